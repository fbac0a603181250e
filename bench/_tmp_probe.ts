import { McpClientPool } from '/work/main/bench/load.ts';
import { startHttpServer } from '/work/main/bench/procs.ts';
const s = await startHttpServer();
const c = new McpClientPool(s.url, 1);
const sess = await c.open();
for (let r = 0; r < 3; r++) {
  const t0 = performance.now(); let n = 0;
  while (performance.now() - t0 < 1000) { await c.echo(sess, 'x' + n); n++; }
  console.log('calls/s', n);
}
await c.destroy(); await s.stop();
