import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveCommand } from './sandbox.js';
import { useRuntimes } from './testing/runtimes.js';

const HAS_BWRAP = resolveCommand('bwrap', '/usr/local/bin:/usr/bin:/bin', '/') !== null;

/** Runs a node one-liner and returns its stdout once it exits. */
async function output(p: { stdout: NodeJS.ReadableStream; exited: Promise<unknown> }): Promise<string> {
  let out = '';
  p.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await p.exited;
  return out.trim();
}

const SCRIPT = "const fs=require('fs');let w='ok';try{fs.writeFileSync('x.txt','x')}catch(e){w=e.code}console.log(JSON.stringify({cwd:process.cwd(),file:fs.readFileSync('hello.txt','utf8'),write:w}))";

describe('LaunchRequest.workspace (a source revision\'s prepared folder)', () => {
  for (const sandbox of HAS_BWRAP ? (['none', 'bubblewrap'] as const) : (['none'] as const)) {
    const fx = useRuntimes(`berth-ws-${sandbox}-`, { sandbox, stopGraceMs: 500 });

    it(`${sandbox}: runs in the workspace when it lies in an internal folder${sandbox === 'bubblewrap' ? ', read-only' : ''}`, async () => {
      const ws = path.join(fx.dataDir, 'workspaces', 'd1', '1');
      mkdirSync(ws, { recursive: true });
      writeFileSync(path.join(ws, 'hello.txt'), 'hi');
      const rt = fx.make({ internalRoots: [path.join(fx.dataDir, 'workspaces')] });
      const p = await rt.launch({ deploymentId: 'd1', instanceKey: 'main', command: process.execPath, args: ['-e', SCRIPT], env: {}, workspace: ws, network: 'none' });
      const got = JSON.parse(await output(p)) as { cwd: string; file: string; write: string };
      expect(got.cwd).toBe(ws);
      expect(got.file).toBe('hi');
      expect(got.write).toBe(sandbox === 'bubblewrap' ? 'EROFS' : 'ok');
    });

    it(`${sandbox}: refuses a workspace outside the internal folders that touches the data dir`, async () => {
      const ws = path.join(fx.dataDir, 'elsewhere');
      mkdirSync(ws, { recursive: true });
      const rt = fx.make({ internalRoots: [path.join(fx.dataDir, 'workspaces')] });
      await expect(rt.launch({ deploymentId: 'd1', instanceKey: 'main', command: process.execPath, args: ['-e', '1'], env: {}, workspace: ws, network: 'none' })).rejects.toThrow(/overlaps Berth's own data/);
    });
  }
});
