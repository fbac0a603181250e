import { describe, expect, it } from 'vitest';
import { buildCatalogInput, catalogTarget } from './catalog-args.js';
import { buildCreateInput } from './deploy-args.js';
import { runCli } from './testing/run-cli.js';

describe('berth deploy catalog:NAME and git+URL', () => {
  it('names the template, and builds the deploy body from the flags and the arguments after --', () => {
    expect(catalogTarget(['catalog:memory'])).toBe('memory');
    expect(catalogTarget(['npx', 'x'])).toBeNull();
    expect(() => catalogTarget(['catalog:../x'])).toThrow(/template name/);
    expect(buildCatalogInput({ start: true }, ['catalog:memory'])).toEqual({ start: true, env: {} });
    expect(buildCatalogInput({ start: true, runtime: 'container' }, ['catalog:memory'])).toEqual({ start: true, env: {}, spec: { runtime: 'container' } });
    expect(buildCatalogInput({ start: false, name: 'fs', env: { A: '1' }, mount: [{ path: '/data', mode: 'rw' }], network: 'none', public: true, min: 0 }, ['catalog:filesystem', '/data'])).toEqual({
      name: 'fs',
      access: 'public',
      start: false,
      env: { A: '1' },
      args: ['/data'],
      spec: { mounts: [{ path: '/data', mode: 'rw' }], network: 'none', scale: { min: 0 } },
    });
    expect(() => buildCatalogInput({ start: true, secret: ['K=v'] }, ['catalog:x'])).toThrow(/name only/);
    expect(() => buildCatalogInput({ start: true, url: 'https://x' }, ['catalog:x'])).toThrow(/not both/);
  });

  it('turns git+URL#ref:subdir into a source spec named after the folder', () => {
    expect(buildCreateInput({ start: true }, ['git+https://github.com/org/weather-mcp.git#v1:servers/mcp-server-weather'])).toEqual({
      name: 'weather',
      start: true,
      spec: { type: 'source', source: { kind: 'git', url: 'https://github.com/org/weather-mcp.git', ref: 'v1', subdir: 'servers/mcp-server-weather' }, args: [], env: {} },
    });
    expect(buildCreateInput({ start: true }, ['git+file:///srv/tools.git']).name).toBe('tools');
    expect(() => buildCreateInput({ start: true }, ['git+ftp://x/y'])).toThrow(/git\+https/);
  });

  it('reads options written after catalog:NAME, and refuses stray arguments before --', async () => {
    const r = await runCli(['--url', 'http://127.0.0.1:9', 'deploy', 'catalog:memory', 'oops']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('put the server\'s arguments after --');
    const bad = await runCli(['--url', 'http://127.0.0.1:9', 'deploy', 'catalog:memory', '--url', 'https://x']);
    expect(bad.stderr).toContain('not both');
  });
});
