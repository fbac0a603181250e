import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StandInApi } from './testing/stand-in-api.js';
import { startStandInApi } from './testing/stand-in-api.js';
import { runCli } from './testing/run-cli.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error('condition not reached');
}

describe('against a stand-in API server', () => {
  let api: StandInApi;
  let env: Record<string, string>;
  beforeEach(async () => {
    api = await startStandInApi();
    env = { BERTH_URL: api.url };
  });
  afterEach(() => api.close());

  describe('berth ls', () => {
    beforeEach(() => {
      api.addDeployment({ id: 'everything-aaaaaaaaaaaa', name: 'everything', uptime_s: 192, request_count: 42 });
      api.addDeployment({ id: 'fs-bbbbbbbbbbbb', name: 'filesystem', status: 'stopped', uptime_s: null, request_count: 0 });
      api.addDeployment({ id: 'old-cccccccccccc', name: 'old', status: 'deleted', uptime_s: null });
    });

    it('prints a padded table without deleted deployments', async () => {
      const r = await runCli(['ls'], { env });
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/^ID\s+NAME\s+STATUS\s+ENDPOINT\s+UPTIME\s+REQUESTS\s+RUNTIME$/);
      expect(lines[1]?.split(/\s+/)).toEqual(['everything-aaaaaaaaaaaa', 'everything', 'running', `${api.url}/s/everything-aaaaaaaaaaaa/mcp`, '3m12s', '42', '-']);
      expect(lines[2]?.split(/\s+/)).toEqual(['fs-bbbbbbbbbbbb', 'filesystem', 'stopped', `${api.url}/s/fs-bbbbbbbbbbbb/mcp`, '-', '0', '-']);
      // Where a whole word starts (the random port in the endpoint may contain '42').
      const col = (line: string | undefined, word: string) => {
        const m = new RegExp(`(^|\\s)${word}(\\s|$)`).exec(line ?? '');
        return m ? m.index + m[1]!.length : -1;
      };
      expect(col(lines[1], 'running')).toBe(col(lines[0], 'STATUS'));
      expect(col(lines[2], 'stopped')).toBe(col(lines[0], 'STATUS'));
      expect(col(lines[1], '42')).toBe(col(lines[0], 'REQUESTS'));
    });

    it('--all includes deleted deployments', async () => {
      const r = await runCli(['ls', '--all'], { env });
      expect(r.stdout).toContain('old-cccccccccccc');
      expect(r.stdout).toContain('deleted');
    });

    it('--json prints the API JSON and nothing else', async () => {
      const r = await runCli(['ls', '--json'], { env });
      const body = JSON.parse(r.stdout) as { items: { id: string; request_count: number }[] };
      expect(body.items.map((d) => d.id)).toEqual(['everything-aaaaaaaaaaaa', 'fs-bbbbbbbbbbbb']);
      expect(body.items[0]?.request_count).toBe(42);
    });

    it('says how to deploy when there is nothing', async () => {
      api.deployments.clear();
      const r = await runCli(['ls'], { env });
      expect(r.stdout).toBe('No deployments. Deploy one with: berth deploy -- <command>\n');
    });
  });

  it('berth status prints key: value lines', async () => {
    api.addDeployment({ id: 'everything-aaaaaaaaaaaa', uptime_s: 7500, restart_count: 3, tools: [{ name: 'a' }, { name: 'b' }], status_message: 'healthy' });
    const r = await runCli(['status', 'everything-aaaaaaaaaaaa'], { env });
    expect(r.code).toBe(0);
    const fields = Object.fromEntries(r.stdout.trimEnd().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
    expect(fields).toEqual({
      id: 'everything-aaaaaaaaaaaa',
      name: 'everything',
      status: 'running',
      revision: '1',
      message: 'healthy',
      endpoint: `${api.url}/s/everything-aaaaaaaaaaaa/mcp`,
      runtime: 'process',
      tools: '2',
      sessions: '2',
      processes: '1',
      restarts: '3',
      uptime: '2h5m',
    });
  });

  it('berth status shows a rollout in progress and scale to zero', async () => {
    const scale = { min: 0, idle_s: 60, last_request_at: '2026-12-07T00:00:00.000Z', idle_for_s: 75, next_idle_stop_at: null };
    api.addDeployment({ id: 'roll-aaaaaaaaaaaa', revision: 3, serving_revision: 2, generation: 4, observed_generation: 3, ...({ scale } as object) });
    const r = await runCli(['status', 'roll-aaaaaaaaaaaa'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^revision:\s+3 \(2 serving\), change pending$/m);
    expect(r.stdout).toMatch(/^scale:\s+to zero after 60s idle; last request 1m15s ago$/m);
  });

  it('berth status shows the sandbox, the limits and the last unexpected exit of a process deployment', async () => {
    const extra = {
      sandbox: { kind: 'bubblewrap', network: 'egress', network_enforced: true, mounts: [{ path: '/srv/data', mode: 'ro' }], warning: null },
      limits: { memory_mb: 512, pids: 256, cpus: 1, enforced_by: 'cgroup-v1', unenforced: [] },
      last_exit: { at: '2026-12-07T00:00:00.000Z', pid: 42, instance_key: 'main', exit: 'signal SIGKILL', reason: 'out of memory: killed at the 512 MiB limit' },
      usage: [
        { revision: 3, memory_bytes: 40_054_784, cpu_seconds: 1.25, processes: 3 },
        { revision: 2, memory_bytes: 900, cpu_seconds: 0, processes: 1 },
      ],
    };
    api.addDeployment({ id: 'lim-aaaaaaaaaaaa', ...(extra as object) });
    const r = await runCli(['status', 'lim-aaaaaaaaaaaa'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sandbox:\s+bubblewrap, network egress, mounts \/srv\/data:ro$/m);
    expect(r.stdout).toMatch(/^limits:\s+512 MiB, 256 pids, 1 cpu \(cgroup-v1\)$/m);
    expect(r.stdout).toMatch(/^last exit:\s+out of memory: killed at the 512 MiB limit \(main, 2026-12-07T00:00:00.000Z\)$/m);
    // Two revisions run during a rollout: each is named.
    expect(r.stdout).toMatch(/^usage \(revision 3\):\s+38\.2 MiB memory, 1\.25 s CPU, 3 processes$/m);
    expect(r.stdout).toMatch(/^usage \(revision 2\):\s+900 B memory, 0\.00 s CPU, 1 process$/m);
  });

  describe('berth logs', () => {
    const id = 'everything-aaaaaaaaaaaa';
    beforeEach(() => {
      api.addDeployment({ id });
      api.appendLog(id, 'system', 'started pid 123');
      api.appendLog(id, 'stderr', 'listening on stdio');
      api.appendLog(id, 'stderr', 'tool called');
    });

    it('prints TIMESTAMP STREAM LINE, system lines marked, honouring --tail', async () => {
      const r = await runCli(['logs', id, '--tail', '2'], { env });
      expect(r.code).toBe(0);
      expect(api.requests.at(-1)?.path).toBe(`/api/deployments/${id}/logs?tail=2`);
      expect(r.stdout).toBe('2026-01-01T00:00:01.000Z stderr  listening on stdio\n2026-01-01T00:00:02.000Z stderr  tool called\n');
      const all = await runCli(['logs', id], { env });
      expect(all.stdout.split('\n')[0]).toBe('2026-01-01T00:00:00.000Z [berth] started pid 123');
    });

    it('rejects a bad --tail (exit 2)', async () => {
      const r = await runCli(['logs', id, '--tail', 'lots'], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("expected a whole number, got 'lots'");
    });

    it('-f prints the tail then new lines from the SSE stream until interrupted', async () => {
      const ctl = new AbortController();
      const pending = runCli(['logs', id, '-f', '--tail', '1'], { env, signal: ctl.signal });
      await until(() => api.followerCount() === 1);
      api.appendLog(id, 'stdout', 'stray output');
      api.appendLog(id, 'system', 'restarted');
      await new Promise((r) => setTimeout(r, 100));
      ctl.abort();
      const r = await pending;
      expect(r.code).toBe(0);
      expect(api.requests.at(-1)?.path).toBe(`/api/deployments/${id}/logs?tail=1&follow=1`);
      expect(r.stdout.trimEnd().split('\n')).toEqual([
        '2026-01-01T00:00:02.000Z stderr  tool called',
        '2026-01-01T00:00:03.000Z stdout  stray output',
        '2026-01-01T00:00:04.000Z [berth] restarted',
      ]);
      await until(() => api.followerCount() === 0);
    });

    it('-f returns when the server ends the stream', async () => {
      const pending = runCli(['logs', id, '-f'], { env });
      await until(() => api.followerCount() === 1);
      api.endFollowers();
      const r = await pending;
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(3);
    });
  });

  describe('berth stop|start|rm', () => {
    const id = 'everything-aaaaaaaaaaaa';
    beforeEach(() => void api.addDeployment({ id }));

    it.each([
      ['stop', 'POST', `/api/deployments/${id}/stop`, 'stopped'],
      ['start', 'POST', `/api/deployments/${id}/start`, 'deploying'],
      ['rm', 'DELETE', `/api/deployments/${id}`, 'deleted'],
    ])('%s is silent on success', async (verb, method, path, status) => {
      const r = await runCli([verb, id], { env });
      expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual([`${method} ${path}`]);
      expect(api.deployments.get(id)?.status).toBe(status);
    });

    it('rm --yes is accepted, and --json prints the deployment', async () => {
      const r = await runCli(['rm', id, '--yes', '--json'], { env });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ id, status: 'deleted' });
    });
  });

  describe('errors', () => {
    it('an unknown id prints the API message with its code and exits 1', async () => {
      const r = await runCli(['stop', 'nope'], { env });
      expect(r).toEqual({ code: 1, stdout: '', stderr: 'berth: No deployment with id nope (DEPLOYMENT_NOT_FOUND)\n' });
    });

    it('an unreachable server names the URL and how to start Berth', async () => {
      const url = `http://127.0.0.1:${await freePort()}`;
      const r = await runCli(['ls', '--url', url], { env });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`berth: Cannot reach Berth at ${url} — is it running? (npm start) (UNREACHABLE)\n`);
    });

    it('sends the token from BERTH_TOKEN or --token as a bearer header', async () => {
      await api.close();
      api = await startStandInApi({ token: 's3cret' });
      const denied = await runCli(['ls'], { env: { BERTH_URL: api.url } });
      expect(denied.code).toBe(1);
      expect(denied.stderr.split('\n')[0]).toBe('berth: Missing or wrong API token (UNAUTHORIZED)');
      expect(denied.stderr).toContain('berth login');
      expect((await runCli(['ls'], { env: { BERTH_URL: api.url, BERTH_TOKEN: 's3cret' } })).code).toBe(0);
      expect((await runCli(['--token', 's3cret', 'ls'], { env: { BERTH_URL: api.url } })).code).toBe(0);
      expect((await runCli(['ls', '--token', 's3cret', '--url', api.url], {})).code).toBe(0);
      expect(api.requests.at(-1)?.headers.authorization).toBe('Bearer s3cret');
    });

    it('an unknown command is a usage error (exit 2)', async () => {
      const r = await runCli(['frobnicate'], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("berth: unknown command 'frobnicate'");
    });
  });
});

describe('berth --version and --help', () => {
  it('prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('prints help with examples', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: berth');
    expect(r.stdout).toContain('berth deploy -- npx -y @modelcontextprotocol/server-everything');
    for (const cmd of ['deploy', 'ls', 'status', 'logs', 'stop', 'start', 'rm']) expect(r.stdout).toMatch(new RegExp(`\\n  ${cmd}\\b`));
  });
});
