import { describe, expect, it } from 'vitest';
import { ToolIndex, words } from './search.js';

describe('group tool search (BM25)', () => {
  it('splits names the ways tools are named, drops filler words and plural s', () => {
    expect(words('read_file')).toEqual(['read', 'file']);
    expect(words('readMultipleFiles')).toEqual(['read', 'multiple', 'file']);
    expect(words('get-HTTPHeaders of a page')).toEqual(['get', 'http', 'header', 'page']);
  });

  it('ranks the tool whose name and parameters say it first, and returns nothing for unrelated words', () => {
    const tools = [
      { name: 'fs__read_file', description: 'Read the complete contents of a file from the file system.', inputSchema: { properties: { path: { description: 'Path of the file' } } } },
      { name: 'fs__write_file', description: 'Create a new file or overwrite an existing file with new content.', inputSchema: { properties: { path: {}, content: {} } } },
      { name: 'fs__list_directory', description: 'Get a detailed listing of all files and directories in a specified path.', inputSchema: { properties: { path: {} } } },
      { name: 'everything__get-sum', description: 'Returns the sum of two numbers', inputSchema: { properties: { a: { description: 'First number' }, b: { description: 'Second number' } } } },
      { name: 'kg__create_entities', description: 'Create multiple new entities in the knowledge graph', inputSchema: { properties: { entities: {} } } },
    ];
    const index = new ToolIndex(tools);
    expect(index.search('read a file', 3)[0]!.tool.name).toBe('fs__read_file');
    expect(index.search('add two numbers together', 3)[0]!.tool.name).toBe('everything__get-sum');
    expect(index.search('what is in this folder: list the directory', 3)[0]!.tool.name).toBe('fs__list_directory');
    expect(index.search('store a new entity in my knowledge graph', 1).map((h) => h.tool.name)).toEqual(['kg__create_entities']);
    expect(index.search('quantum chromodynamics')).toEqual([]);
    expect(index.search('file', 2)).toHaveLength(2);
  });
});
