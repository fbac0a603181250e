/**
 * Child side of the contract's "Berth crashed" test. Run as
 *   node --import tsx crash-helper.contract.ts FACTORY_MODULE VARIANT DATA_DIR
 * It builds a runtime with the factory module's `createRuntime(dataDir, variant)`, launches one
 * long-lived server, prints `{"pid":…}` and waits to be SIGKILLed by the test.
 */
import { pathToFileURL } from 'node:url';
import type { Runtime } from './types.js';

const [factoryModule, variant, dataDir] = process.argv.slice(2);
if (!factoryModule || !variant || !dataDir) {
  process.stderr.write('usage: crash-helper FACTORY_MODULE VARIANT DATA_DIR\n');
  process.exit(2);
}
const mod = (await import(pathToFileURL(factoryModule).href)) as { createRuntime(dataDir: string, variant: string): Runtime };
const runtime = mod.createRuntime(dataDir, variant);
const proc = await runtime.launch({
  deploymentId: 'crash',
  instanceKey: 'main',
  command: 'node',
  // Ignores stdin EOF and SIGHUP, like a server that would outlive a crashed Berth.
  args: ['-e', "process.on('SIGHUP', () => {}); setInterval(() => {}, 1000);"],
  env: {},
});
process.stdout.write(`${JSON.stringify({ pid: proc.pid })}\n`);
setInterval(() => {}, 1000);
