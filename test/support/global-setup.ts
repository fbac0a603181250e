import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { BUILD_FAILED_MARKER } from './build-marker.js';

/**
 * End-to-end suites run Berth as a real process from dist/: build it once per run.
 * A failed build does not stop unit tests; it leaves a marker that makes every end-to-end suite fail loudly.
 */
export function setup(): void {
  rmSync(BUILD_FAILED_MARKER, { force: true });
  try {
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'pipe' });
    // The same server entry `npm run build` makes: dist/main.js bundled (package.json "build").
    execFileSync(process.execPath, ['scripts/bundle.mjs'], { stdio: 'pipe' });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? err);
    process.stderr.write(`\n!!! build of dist/ failed; end-to-end suites will fail:\n${out}\n`);
    mkdirSync('dist', { recursive: true });
    writeFileSync(BUILD_FAILED_MARKER, out);
  }
}
