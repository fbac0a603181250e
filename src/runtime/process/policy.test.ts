import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MountGuard } from './mounts.js';
import { admitPolicy, checkNetwork, isolationView, resolveLimits, type PolicyFacts } from './policy.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'berth-policy-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const facts = (over: Partial<PolicyFacts> = {}): PolicyFacts => ({
  sandbox: 'bubblewrap',
  hostNetwork: 'deny',
  egressMissing: null,
  defaults: { memoryMb: 512, pids: 256, cpus: 1 },
  max: { memoryMb: 1024, pids: 512, cpus: 2 },
  enforcer: 'cgroup-v1',
  unenforced: [],
  guard: new MountGuard({ roots: [root], forbidden: [] }),
  ...over,
});

describe('launch policy', () => {
  it('fills limits from the defaults and refuses one above the maximum, naming the setting', () => {
    expect(resolveLimits(undefined, facts())).toEqual({ memoryMb: 512, pids: 256, cpus: 1 });
    expect(resolveLimits({ cpus: 0.5, memoryMb: 1024 }, facts())).toEqual({ memoryMb: 1024, pids: 256, cpus: 0.5 });
    expect(() => resolveLimits({ memoryMb: 2048 }, facts())).toThrow(expect.objectContaining({ code: 'LIMIT_TOO_HIGH', message: expect.stringMatching(/limits.memory_mb 2048 .* maximum of 1024 .*BERTH_SERVER_MAX_MEMORY_MB/) }));
    expect(() => resolveLimits({ pids: 513 }, facts())).toThrow(expect.objectContaining({ code: 'LIMIT_TOO_HIGH' }));
    expect(() => resolveLimits({ cpus: -1 }, facts())).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });

  it('refuses network "host" unless the operator allows it, and "egress" when its tools are missing', () => {
    expect(() => checkNetwork('host', facts())).toThrow(expect.objectContaining({ code: 'HOST_NETWORK_NOT_ALLOWED', message: expect.stringMatching(/BERTH_SANDBOX_HOST_NETWORK=allow/) }));
    expect(() => checkNetwork('host', facts({ hostNetwork: 'allow' }))).not.toThrow();
    expect(() => checkNetwork('egress', facts({ egressMissing: ['slirp4netns'] }))).toThrow(expect.objectContaining({ code: 'NETWORK_UNAVAILABLE', message: expect.stringMatching(/needs slirp4netns .*spec.network "none"/) }));
    expect(() => checkNetwork('none', facts({ egressMissing: ['slirp4netns'] }))).not.toThrow();
    // Without a sandbox nothing of the network policy applies; egress is not refused for missing tools.
    expect(() => checkNetwork('egress', facts({ sandbox: 'none', egressMissing: ['slirp4netns'] }))).not.toThrow();
  });

  it('admits a policy only when every part passes', () => {
    expect(admitPolicy({ cwd: root, network: 'none', mounts: [{ path: root, mode: 'ro' }], limits: { pids: 100 } }, facts())).toEqual({ memoryMb: 512, pids: 100, cpus: 1 });
    expect(() => admitPolicy({ cwd: '/' }, facts())).toThrow(expect.objectContaining({ code: 'MOUNT_NOT_ALLOWED', message: expect.stringMatching(/^cwd \//) }));
    expect(() => admitPolicy({ mounts: [{ path: os.tmpdir(), mode: 'rw' }] }, facts())).toThrow(expect.objectContaining({ code: 'MOUNT_NOT_ALLOWED', message: expect.stringMatching(/^mounts\[0\] \(rw\)/) }));
  });

  it('reports what applies, and says so when the sandbox is off', () => {
    const v = isolationView({ mounts: [{ path: root, mode: 'rw' }], limits: { cpus: 0.5 } }, facts());
    expect(v).toEqual({
      sandbox: { kind: 'bubblewrap', network: 'egress', network_enforced: true, mounts: [{ path: root, mode: 'rw' }], warning: null },
      limits: { memory_mb: 512, pids: 256, cpus: 0.5, enforced_by: 'cgroup-v1', unenforced: [] },
    });
    const off = isolationView({}, facts({ sandbox: 'none', enforcer: 'prlimit', unenforced: ['cpus'] }));
    expect(off.sandbox).toMatchObject({ kind: 'none', network_enforced: false, warning: expect.stringMatching(/no sandbox/) });
    expect(off.limits).toMatchObject({ enforced_by: 'prlimit', unenforced: ['cpus'] });
    expect(isolationView({ network: 'host' }, facts({ hostNetwork: 'allow' })).sandbox).toMatchObject({ network_enforced: false, warning: expect.stringMatching(/host's network/) });
  });
});
