/** Detection beyond the language: the source's own Dockerfile, smithery.yaml, the transport, package.json exports. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectSource } from './index.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
function project(files: Record<string, string | object>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-detect-x-'));
  roots.push(root);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return root;
}
const SDK = { dependencies: { '@modelcontextprotocol/sdk': '^1.0.0' } };

describe('detectSource: Dockerfile, smithery.yaml, transport, exports', () => {
  it('reports a Dockerfile or Containerfile; one alone is no error, but says only containers can run it', () => {
    const both = detectSource(project({ 'package.json': { name: 'a', main: 'i.js', ...SDK }, Dockerfile: 'FROM x\n' }));
    expect(both.dockerfile).toBe('Dockerfile');
    expect(both.plan?.start).toEqual(['node', 'i.js']);
    const alone = detectSource(project({ Containerfile: 'FROM x\n' }));
    expect(alone.dockerfile).toBe('Containerfile');
    expect(alone.problems).toEqual([]);
    expect(alone.warnings.map((w) => w.code)).toEqual(['DOCKERFILE_ONLY']);
    expect(detectSource(project({ 'server.py': '' })).dockerfile).toBeNull();
  });

  it('takes smithery.yaml: its type, a literal command, env hints from configSchema; never runs commandFunction', () => {
    const r = detectSource(project({
      'package.json': { name: 'a', bin: 'cli.js', ...SDK },
      'smithery.yaml': `startCommand:
  type: stdio
  configSchema:
    type: object
    required: [braveApiKey]
    properties:
      braveApiKey:
        type: string
        description: The Brave Search API key
      region: { type: string, default: us }
  commandFunction: |-
    (config) => ({ command: 'node', args: ['dist/index.js', '--stdio'], env: { BRAVE_API_KEY: config.braveApiKey, REGION: config.region } })
`,
    }));
    expect(r.plan?.start).toEqual(['node', 'dist/index.js', '--stdio']);
    expect(r.findings).toContainEqual({ what: 'start', value: 'node dist/index.js --stdio', from: 'smithery.yaml startCommand.commandFunction' });
    expect(r.transport).toEqual({ kind: 'stdio', from: 'smithery.yaml startCommand.type' });
    expect(r.env).toEqual([
      { name: 'BRAVE_API_KEY', required: true, description: 'The Brave Search API key', secret: true, from: 'smithery.yaml configSchema.properties.braveApiKey' },
      { name: 'REGION', required: false, default: 'us', secret: false, from: 'smithery.yaml configSchema.properties.region' },
    ]);
    const dynamic = detectSource(project({
      'package.json': { name: 'a', bin: 'cli.js', ...SDK },
      'smithery.yaml': "startCommand:\n  type: http\n  commandFunction: |-\n    (c) => ({ command: 'node', args: [c.debug ? '-v' : '', 'x.js'] })\n",
    }));
    expect(dynamic.plan?.start).toEqual(['node', 'cli.js']);
    expect(dynamic.warnings.map((w) => w.code)).toContain('SMITHERY_COMMAND_DYNAMIC');
    expect(dynamic.transport).toMatchObject({ kind: 'http', path: '/mcp' });
    const broken = detectSource(project({ 'server.py': '', 'smithery.yaml': 'startCommand: [\n' }));
    expect(broken.warnings.map((w) => w.code)).toContain('SMITHERY_INVALID');
    expect(broken.plan?.start).toEqual(['python', 'server.py']);
  });

  it('finds the transport in the code: Node SDK transports with port and path, FastMCP run(transport=…), start flags', () => {
    const httpNode = detectSource(project({
      'package.json': { name: 'a', main: 'src/index.js', ...SDK },
      'src/index.js': "import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';\napp.post('/mcp', h);\napp.listen(process.env.PORT ?? 3001);\n",
    }));
    expect(httpNode.transport).toEqual({ kind: 'http', port: 3001, path: '/mcp', from: 'src/index.js' });
    const stdioNode = detectSource(project({ 'package.json': { name: 'a', main: 'i.js', ...SDK }, 'i.js': "import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';\n" }));
    expect(stdioNode.transport).toEqual({ kind: 'stdio', from: 'i.js' });
    const both = detectSource(project({ 'package.json': { name: 'a', main: 'i.js', scripts: { start: 'node i.js --transport http --port 9090' }, ...SDK }, 'i.js': 'StdioServerTransport; StreamableHTTPServerTransport\n' }));
    expect(both.transport).toMatchObject({ kind: 'http', port: 9090, from: "the start command's flags" });
    const py = detectSource(project({ 'server.py': 'from mcp.server.fastmcp import FastMCP\nmcp = FastMCP("w", port=8123)\nmcp.run(transport="streamable-http")\n' }));
    expect(py.transport).toEqual({ kind: 'http', port: 8123, path: '/mcp', from: 'server.py' });
    const pyStdio = detectSource(project({ 'server.py': 'mcp.run()\n' }));
    expect(pyStdio.transport).toEqual({ kind: 'stdio', from: 'server.py' });
    expect(detectSource(project({ 'server.py': 'print(1)\n' })).transport).toEqual({ kind: 'stdio', from: 'default (no transport found in the code)' });
  });

  it('starts from package.json exports after main and before index.js', () => {
    expect(detectSource(project({ 'package.json': { name: 'a', exports: { '.': { import: './dist/index.mjs', require: './dist/index.cjs' } }, ...SDK }, 'index.js': '' })).plan?.start).toEqual(['node', 'dist/index.mjs']);
    expect(detectSource(project({ 'package.json': { name: 'a', exports: './server.js', ...SDK } })).plan?.start).toEqual(['node', 'server.js']);
    expect(detectSource(project({ 'package.json': { name: 'a', main: 'm.js', exports: './server.js', ...SDK } })).plan?.start).toEqual(['node', 'm.js']);
  });
});
