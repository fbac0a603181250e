import { execFileSync } from 'node:child_process';

/** End-to-end suites run Berth as a real process from dist/: build it once per run. */
export function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
