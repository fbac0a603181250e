import { describe, expect, it } from 'vitest';
import { absoluteEndpoint, clientSnippet, formatDuration, formatLogEntry, renderTable } from './format.js';

describe('formatDuration', () => {
  it.each([
    [null, '-'],
    [-1, '-'],
    [0, '0s'],
    [59.9, '59s'],
    [60, '1m0s'],
    [192, '3m12s'],
    [7500, '2h5m'],
    [86_399, '23h59m'],
    [90_000, '1d1h'],
    [4 * 86_400 + 3600 + 59, '4d1h'],
  ])('%s → %s', (seconds, text) => expect(formatDuration(seconds)).toBe(text));
});

describe('renderTable', () => {
  it('pads every column to its widest cell and trims line ends', () => {
    expect(renderTable(['A', 'LONG'], [['xyz', '1'], ['q', '']])).toBe('A    LONG\nxyz  1\nq');
  });
});

describe('formatLogEntry', () => {
  it('labels streams, marking Berth lines', () => {
    expect(formatLogEntry({ seq: 1, ts: 'T', stream: 'stderr', line: 'x' })).toBe('T stderr  x');
    expect(formatLogEntry({ seq: 2, ts: 'T', stream: 'system', line: 'y' })).toBe('T [berth] y');
  });
});

describe('snippets and endpoints', () => {
  it('builds a pasteable mcpServers config', () => {
    expect(JSON.parse(clientSnippet('a', 'http://h/s/a/mcp'))).toEqual({ mcpServers: { a: { type: 'http', url: 'http://h/s/a/mcp' } } });
  });
  it('resolves a path endpoint against the Berth URL and keeps absolute ones', () => {
    expect(absoluteEndpoint('/s/a/mcp', 'http://h:8080')).toBe('http://h:8080/s/a/mcp');
    expect(absoluteEndpoint('https://a.example.com/mcp', 'http://h:8080')).toBe('https://a.example.com/mcp');
  });
});
