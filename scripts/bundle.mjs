// Bundles Berth's server entry (src/main.ts) into dist/main.js, after `tsc` has built dist/.
// Node 20 loads ES modules one file at a time: unbundled, a start loads about 460 of them (Berth's own,
// kysely's and zod's), which is most of Berth's start-up time (docs/architecture.md, "Start-up").
// Code behind a dynamic import() stays in its own chunk and loads when first needed; the database
// drivers and undici stay in node_modules and are loaded only by the code that needs them.
import { build } from 'esbuild';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Chunks of an earlier build (their names carry a content hash).
for (const f of readdirSync(join(root, 'dist'))) if (/^main-[A-Z0-9]+\.js(\.map)?$/.test(f)) rmSync(join(root, 'dist', f));
await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts'],
  outdir: 'dist',
  // Chunks sit beside main.js so that `new URL('../package.json', import.meta.url)` finds the same file.
  entryNames: '[name]',
  chunkNames: 'main-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // dockerode (and its native ssh2 parts) stays in node_modules and loads with the first container; CommonJS
  // packages that require() Node's built-ins (busboy, yauzl, yazl, tar-stream) cannot be inlined into an ES module.
  external: ['better-sqlite3', 'pg', 'undici', 'dockerode', 'busboy', 'yauzl', 'yazl', 'tar-stream'],
  // Any other CommonJS dependency that require()s Node's built-ins gets a require of its own.
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
  sourcemap: true,
  logLevel: 'warning',
});

// The `berth` command as one self-contained file (its `bridge` is the entry point of every container Berth runs):
// copied into built images and mounted read-only into containers that run a plain command.
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/standalone.ts'],
  outfile: 'dist/berth.mjs',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // CommonJS dependencies (commander) call require() on Node's built-ins, which an ES module lacks.
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
  define: { __BERTH_VERSION__: JSON.stringify(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version) },
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
