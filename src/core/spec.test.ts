import { describe, expect, it } from 'vitest';
import { CreateDeploymentSchema, DeploymentSpecSchema } from './spec.js';
import { parseOrThrow } from './validate.js';

describe('DeploymentSpecSchema', () => {
  it('takes isolated.prime, leaves it unset by default, and names the field when it is wrong', () => {
    const primed = DeploymentSpecSchema.parse({ type: 'process', command: 'node', mode: 'isolated', isolated: { warm: 2, prime: false } });
    expect(primed.type === 'process' && primed.isolated).toEqual({ max_sessions: 32, warm: 2, prime: false });
    const plain = DeploymentSpecSchema.parse({ type: 'process', command: 'node' });
    expect(plain.type === 'process' && plain.isolated.prime).toBeUndefined();
    const bad = DeploymentSpecSchema.safeParse({ type: 'process', command: 'node', isolated: { prime: 'yes' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['isolated', 'prime']);
  });

  it('takes shared.client_features on hosted specs (absent by default), and refuses unknown shared options', () => {
    const off = DeploymentSpecSchema.parse({ type: 'process', command: 'node', shared: { client_features: false } });
    expect(off.type === 'process' && off.shared).toEqual({ client_features: false });
    const plain = DeploymentSpecSchema.parse({ type: 'package', registry: 'npm', name: 'x' });
    expect(plain.type === 'package' && plain.shared).toBeUndefined();
    const bad = DeploymentSpecSchema.safeParse({ type: 'process', command: 'node', shared: { routes: true } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['shared']);
  });

  it('takes isolated.max_warm (the most the warm pool grows to), not below warm', () => {
    const grown = DeploymentSpecSchema.parse({ type: 'process', command: 'node', mode: 'isolated', isolated: { warm: 2, max_warm: 24 } });
    expect(grown.type === 'process' && grown.isolated.max_warm).toBe(24);
    const bad = DeploymentSpecSchema.safeParse({ type: 'process', command: 'node', isolated: { warm: 4, max_warm: 2 } });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['isolated', 'max_warm'], message: 'isolated.max_warm must be at least isolated.warm' });
  });

  it('takes an absolute working directory only', () => {
    expect(DeploymentSpecSchema.parse({ type: 'process', command: 'node', cwd: '/srv/x' })).toMatchObject({ cwd: '/srv/x' });
    const bad = DeploymentSpecSchema.safeParse({ type: 'process', command: 'node', cwd: 'srv/x' });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['cwd'], message: 'must be an absolute path' });
  });

  it('takes a url transport from the list only', () => {
    expect(DeploymentSpecSchema.parse({ type: 'url', endpoint: 'http://127.0.0.1:1/mcp', transport: 'sse' })).toMatchObject({ transport: 'sse' });
    const bad = DeploymentSpecSchema.safeParse({ type: 'url', endpoint: 'http://127.0.0.1:1/mcp', transport: 'websocket' });
    expect(bad.error?.issues[0]?.path).toEqual(['transport']);
  });
});

describe('package specs', () => {
  it('take a registry name, an optional version and the same sandbox, mode and health fields as a process', () => {
    const s = DeploymentSpecSchema.parse({ type: 'package', registry: 'npm', name: '@scope/server-x', network: 'none', mode: 'isolated', limits: { memory_mb: 256 } });
    expect(s).toMatchObject({ type: 'package', registry: 'npm', name: '@scope/server-x', args: [], env: {}, install_scripts: false, network: 'none', mode: 'isolated', limits: { memory_mb: 256 } });
    expect(s.type === 'package' && s.version).toBeUndefined();
    expect(DeploymentSpecSchema.parse({ type: 'package', registry: 'pypi', name: 'Mcp_Server.Fetch', version: '1.2.3' })).toMatchObject({ version: '1.2.3', health: { interval_s: 30 } });
  });

  it.each([
    [{ registry: 'cargo', name: 'x' }, ['registry'], /registry must be one of npm, pypi/],
    [{ registry: 'npm', name: '../x' }, ['name'], /npm package name/],
    [{ registry: 'npm', name: 'Upper' }, ['name'], /npm package name/],
    [{ registry: 'npm', name: 'file:/etc' }, ['name'], /npm package name/],
    [{ registry: 'pypi', name: 'x[extra]' }, ['name'], /PyPI project name/],
    [{ registry: 'npm', name: 'x', version: '--registry=http://evil' }, ['version'], /version, a range or a tag/],
    [{ registry: 'npm', name: 'x', command: 'sh' }, [], /command/],
  ])('refuse %j', (fields, path, message) => {
    const r = DeploymentSpecSchema.safeParse({ type: 'package', ...fields });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(path);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });
});

describe('parseOrThrow', () => {
  it('says a missing field is required, and keeps the other messages', () => {
    let caught: unknown;
    try {
      parseOrThrow(CreateDeploymentSchema, { spec: { type: 'process', command: 'node', args: 'x' } }, 'deployment');
    } catch (err) {
      caught = err;
    }
    const e = caught as { code: string; message: string; details: { issues: { field: string; message: string }[] } };
    expect(e.code).toBe('VALIDATION_FAILED');
    expect(e.details.issues).toContainEqual({ field: 'name', message: 'is required' });
    expect(e.details.issues.find((i) => i.field === 'spec.args')?.message).toMatch(/expected array, received string/);
    expect(e.message).toBe(`Invalid deployment: ${e.details.issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
  });
});
