import { describe, expect, it } from 'vitest';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

/** With BERTH_SANDBOX=none nothing of the sandbox applies: Berth says so at start and in every status. */
const ctx = useBerth({ env: { BERTH_SANDBOX: 'none' } });

describe('a Berth without a sandbox', () => {
  it('warns loudly at start, and status says the server is not isolated', async () => {
    expect(ctx.berth.output()).toMatch(/SANDBOX: servers run WITHOUT a sandbox \(BERTH_SANDBOX=none\)/);
    const d = await ctx.api.deploy(echoSpec('bare'));
    const s = await ctx.api.waitFor(d.id);
    expect(s.sandbox).toMatchObject({ kind: 'none', network: 'egress', network_enforced: false, warning: expect.stringMatching(/no sandbox/) });
    // Limits still hold: they do not need the sandbox.
    expect(s.limits).toMatchObject({ memory_mb: 512, enforced_by: expect.stringMatching(/^(cgroup-v1|cgroup-v2|prlimit)$/) });
  });

  it('still refuses network "host" without the operator\'s say-so, and cwd "/"', async () => {
    const host = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', echoSpec('host', [], {}, { network: 'host' }));
    expect([host.status, host.body.error.code]).toEqual([400, 'HOST_NETWORK_NOT_ALLOWED']);
    const slash = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', echoSpec('slash', [], {}, { cwd: '/' }));
    expect([slash.status, slash.body.error.code]).toEqual([400, 'MOUNT_NOT_ALLOWED']);
  });
});
