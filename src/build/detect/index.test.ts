import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectSource } from './index.js';

const dirs: string[] = [];
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-detect-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('detectSource', () => {
  it('goes to Node.js for a package.json and to Python for a server.py', () => {
    const node = detectSource(tree({ 'package.json': JSON.stringify({ name: 'x', bin: 'index.js', dependencies: { '@modelcontextprotocol/sdk': '1' } }), 'index.js': '' }));
    expect(node.plan?.language).toBe('node');
    const py = detectSource(tree({ 'server.py': 'print(1)\n' }));
    expect(py.plan?.language).toBe('python');
  });

  it('names NO_ENTRY_POINT for a tree that is neither', () => {
    const r = detectSource(tree({ 'README.md': '# hello\n' }));
    expect(r.plan).toBeNull();
    expect(r.problems.map((p) => p.code)).toEqual(['NO_ENTRY_POINT']);
  });
});
