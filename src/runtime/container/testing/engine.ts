/**
 * For tests of the container runtime: is a real engine (Podman's Docker-compatible socket) here, with the base
 * image? Under CI=true a missing engine fails the suite (never a skip); locally the suite is skipped with a loud
 * message naming what is missing (start it with scripts/podman-service.sh and scripts/base-images.sh).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerRuntime, type ContainerRuntimeOptions } from '../runtime.js';

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
  if (!existsSync(BRIDGE_FILE)) return `no ${BRIDGE_FILE} (run npm run build)`;
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

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
/** This checkout's node_modules: test workloads mount it read-only to run the SDK's servers in an image. */
export const NODE_MODULES = path.join(ROOT, 'node_modules');
/** dist/berth.mjs (npm run build): the bridge mounted into stdio images. */
export const BRIDGE_FILE = path.join(ROOT, 'dist/berth.mjs');

/** A container runtime on the test engine; one owner per data dir (a second one on the same dir is "the same Berth, restarted"). */
export function testContainerRuntime(dataDir: string, logs: ContainerRuntimeOptions['logs'], extra: Partial<ContainerRuntimeOptions> = {}): ContainerRuntime {
  return new ContainerRuntime({
    socketPath: TEST_SOCKET,
    dataDir,
    logs,
    // One owner per data dir: a second runtime on the same dir is "the same Berth, restarted".
    owner: `t${Buffer.from(dataDir).toString('hex').slice(-16)}`,
    network: 'berth-test',
    bridgeFile: BRIDGE_FILE,
    defaultImage: TEST_BASE_IMAGE,
    limits: { defaults: { memoryMb: 256, pids: 256, cpus: 1 }, max: { memoryMb: 2048, pids: 4096, cpus: 2 } },
    mountRoots: [realpathSync(NODE_MODULES)],
    onShutdown: 'stop',
    stopGraceMs: 2_000,
    ...extra,
  });
}

