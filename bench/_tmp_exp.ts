import { TestApi } from '../test/support/api.js';
import { startBerth } from '../test/support/berth-process.js';
import { echoSpec } from '../test/support/servers.js';
import { McpClientPool, openSessions } from './load.js';
import { deployAndWait, sleep } from './phases.js';
const berth = await startBerth({ env: { BERTH_SANDBOX: 'none', BERTH_SESSION_IDLE_S: '2', BERTH_MAX_SESSIONS: '600' } });
try {
  const api = new TestApi(berth.url);
  const dep = await deployAndWait(api, berth.url, echoSpec('x'));
  const client = new McpClientPool(dep.url, 32);
  const opened = await openSessions(client, 500, 32);
  console.log('opened', opened.sessions.length, opened.errors, (await api.status(dep.id)).sessions);
  for (let i = 0; i < 8; i++) { await sleep(500); console.log(i, berth.proc.exitCode, await api.status(dep.id).then(s => s.sessions, e => String(e))); }
  await client.destroy();
} finally {
  console.log('OUTPUT:\n' + berth.output().slice(-3000));
  await berth.dispose();
}
