// Preloaded into a Berth under test (`node --import`): when it exits, writes the npm packages it had
// loaded (CommonJS modules, and the CommonJS packages ES modules imported: the module cache) to stderr.
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';

const cache = createRequire(import.meta.url).cache;
process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(cache)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (m) names.add(m[1]);
  }
  writeSync(2, `\nberth-loaded-packages: ${JSON.stringify([...names].sort())}\n`);
});
