import { writeFileSync } from 'node:fs';
import { TestApi } from '../test/support/api.js';
import { startBerth } from '../test/support/berth-process.js';
import { InspectorClient } from './inspector.js';
import { runCell } from './load.js';
import { summarize } from './report.js';
import { deployAndWait } from './phases.js';
import { startHttpServer } from './procs.js';
import { echoSpec } from '../test/support/servers.js';
const http = await startHttpServer();
try {
  const berth = await startBerth({ env: { BERTH_SANDBOX: 'none', NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
  try {
    const api = new TestApi(berth.url);
    const gw = await deployAndWait(api, berth.url, { name: 'g', spec: { type: 'url', endpoint: http.url } });
    const st = await deployAndWait(api, berth.url, echoSpec('e'));
    const insp = await InspectorClient.connect(InspectorClient.urlIn(berth.output())!);
    for (const [name, url] of [['gateway', gw.url], ['stdio', st.url]] as const) {
      await runCell(url, { concurrency: 64, warmupMs: 1000, measureMs: 1000 });
      await insp.call('Profiler.enable');
      await insp.call('Profiler.start');
      const g = summarize(await runCell(url, { concurrency: 64, warmupMs: 500, measureMs: 4000 }));
      const { profile } = await insp.call<{ profile: unknown }>('Profiler.stop');
      writeFileSync(`/tmp/berth-${name}.cpuprofile`, JSON.stringify(profile));
      console.log(name, g.p50.toFixed(3), g.rps.toFixed(0));
    }
    insp.close();
  } finally {
    await berth.dispose();
  }
} finally {
  await http.stop();
}
