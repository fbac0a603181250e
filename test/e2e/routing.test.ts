import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { CLIENTS, textOf } from '../support/clients.js';
import { everythingSpec } from '../support/servers.js';

let berth: BerthProcess;
let api: TestApi;
const marks = ['alpha', 'bravo', 'charlie'];
const endpoints = new Map<string, string>();

beforeAll(async () => {
  berth = await startBerth({ env: { BERTH_BASE_DOMAIN: 'mcp.test' } });
  api = new TestApi(berth.url, berth.token);
  for (const mark of marks) {
    const d = await api.deploy(everythingSpec(`everything-${mark}`, { BERTH_TEST_MARK: mark }));
    endpoints.set(mark, d.endpoint);
  }
  await Promise.all([...endpoints.values()].map((e) => api.waitFor(e.split('/s/')[1]!.split('/')[0]!)));
});

afterAll(async () => {
  await berth?.dispose();
});

describe('an endpoint reaches its own server and no other', () => {
  it('keeps same-named tools apart across deployments under concurrent sessions from both SDKs', async () => {
    const jobs = marks.flatMap((mark) =>
      CLIENTS.flatMap(([, connect]) =>
        [0, 1].map(async () => {
          const c = await connect(endpoints.get(mark)!);
          try {
            const answers: string[] = [];
            for (let i = 0; i < 3; i++) answers.push(textOf(await c.call('get-env')));
            return { mark, answers };
          } finally {
            await c.close();
          }
        }),
      ),
    );
    const results = await Promise.all(jobs);
    expect(results).toHaveLength(marks.length * 4);
    for (const { mark, answers } of results) {
      for (const a of answers) {
        expect(a).toContain(`"BERTH_TEST_MARK": "${mark}"`);
        for (const other of marks.filter((m) => m !== mark)) expect(a).not.toContain(other);
      }
    }
  });

  it('routes by subdomain (ID.BASE_DOMAIN/mcp) to the same server', async () => {
    const [mark, endpoint] = [...endpoints.entries()][1]!;
    const id = endpoint.split('/s/')[1]!.split('/')[0]!;
    const init = await rawPost(`${id}.mcp.test`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    expect(init.status).toBe(200);
    const session = init.headers['mcp-session-id'] as string;
    expect(session).toBeTruthy();
    expect((JSON.parse(init.body) as { result: { serverInfo: { name: string } } }).result.serverInfo.name).toBeTruthy();
    const call = await rawPost(`${id}.MCP.test:8080`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get-env', arguments: {} } }, { 'mcp-session-id': session });
    expect(call.status).toBe(200);
    expect(call.body).toContain(mark);
    const unknown = await rawPost('nosuchserver-abc.mcp.test', { jsonrpc: '2.0', id: 1, method: 'ping' }, berth.authHeaders());
    expect(unknown.status).toBe(404);
    const otherDomain = await rawPost(`${id}.elsewhere.test`, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(otherDomain.status).toBe(403);
    expect(otherDomain.body).toContain('FORBIDDEN_HOST');
  });
});

/** fetch() will not send a chosen Host header; node:http will. */
function rawPost(host: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${berth.url}/mcp`,
      { method: 'POST', headers: { host, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
