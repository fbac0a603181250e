/**
 * For tests of the container runtime: is a real engine (Podman's Docker-compatible socket) here, with the base
 * image? Under CI=true a missing engine fails the suite (never a skip); locally the suite is skipped with a loud
 * message naming what is missing (start it with scripts/podman-service.sh and scripts/base-images.sh).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const TEST_SOCKET = process.env.BERTH_CONTAINER_SOCKET ?? '/run/berth-podman/podman.sock';
export const TEST_BASE_IMAGE = process.env.BERTH_BASE_IMAGE ?? 'localhost/berth/base:bookworm';

/** What is missing for container tests, or null when the engine answers and has the base image. */
export function missingEngine(): string | null {
  if (!existsSync(TEST_SOCKET)) return `no container engine socket at ${TEST_SOCKET} (run scripts/podman-service.sh)`;
  try {
    execFileSync('curl', ['-sf', '--max-time', '5', '--unix-socket', TEST_SOCKET, 'http://d/_ping'], { stdio: 'ignore' });
  } catch {
    return `the container engine at ${TEST_SOCKET} does not answer (run scripts/podman-service.sh)`;
  }
  try {
    execFileSync('curl', ['-sf', '--max-time', '5', '--unix-socket', TEST_SOCKET, `http://d/v1.41/images/${encodeURIComponent(TEST_BASE_IMAGE)}/json`], { stdio: 'ignore' });
  } catch {
    return `the engine has no image ${TEST_BASE_IMAGE} (run scripts/base-images.sh)`;
  }
  return null;
}

/** Whether to run container suites: true when the engine is here; throws under CI=true when it is not; false (loudly) otherwise. */
export function engineForTests(suite: string): boolean {
  const missing = missingEngine();
  if (missing === null) return true;
  if (process.env.CI === 'true') throw new Error(`${suite} needs a container engine under CI: ${missing}`);
  console.warn(`\n*** SKIPPING ${suite}: ${missing} ***\n`);
  return false;
}

/** Runs `podman ARGS` and returns its stdout (tests inspect what the engine made). */
export function podman(args: string[]): string {
  return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
