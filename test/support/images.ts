/**
 * Helpers of the image build suites: the engine (Podman's Docker-compatible socket) and the base image, or a loud
 * skip (a failure under CI=true); running a built image on a free loopback port and calling its tools through the
 * bridge with the MCP SDK; a real registry (Debian's docker-registry) on loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { describe, it } from 'vitest';
import { freePort } from './ports.js';
import { toolCaller, type ToolCaller } from './sandbox.js';

export const ENGINE_SOCKET = process.env.BERTH_CONTAINER_SOCKET ?? '/run/berth-podman/podman.sock';
export const BASE_IMAGE = process.env.BERTH_BASE_IMAGE ?? 'localhost/berth/base:bookworm';
export const REGISTRY_BIN = '/usr/bin/docker-registry';

/** The engine with the base image, or what is missing (for the bench, which reports instead of failing). */
export async function engineOrSkipQuiet(needs: { registry?: boolean } = {}): Promise<Docker | string> {
  const missing: string[] = [];
  const docker = new Docker({ socketPath: ENGINE_SOCKET });
  try {
    await docker.ping();
    try {
      await docker.getImage(BASE_IMAGE).inspect();
    } catch {
      missing.push(`the base image ${BASE_IMAGE} (scripts/base-images.sh)`);
    }
  } catch (err) {
    missing.push(`a container engine on ${ENGINE_SOCKET} (scripts/podman-service.sh): ${(err as Error).message}`);
  }
  if (needs.registry && !existsSync(REGISTRY_BIN)) missing.push(`${REGISTRY_BIN} (Debian package docker-registry)`);
  return missing.length === 0 ? docker : missing.join('; ');
}

/** The engine and the base image, or null with a loud warning (a failing test under CI=true). */
export async function engineOrSkip(suite: string, needs: { registry?: boolean } = {}): Promise<Docker | null> {
  const found = await engineOrSkipQuiet(needs);
  if (typeof found !== 'string') return found;
  const what = found;
  if (process.env.CI === 'true') {
    describe(suite, () => {
      it('has what it needs on this host', () => {
        throw new Error(`${suite} needs ${what}; .ci/run installs and starts them`);
      });
    });
  } else {
    console.warn(`\n!!! SKIPPING ${suite}: missing ${what} !!!\n`);
  }
  return null;
}

export interface RunningImage {
  url: string;
  headers: Record<string, string>;
  containerId: string;
  client(): Promise<ToolCaller>;
  stop(): Promise<void>;
}

/** Runs `ref` hardened (read-only root, no capabilities) with the bridge's port on 127.0.0.1, and waits for /health. */
export async function runImage(docker: Docker, ref: string, labels: Record<string, string>, env: Record<string, string> = {}): Promise<RunningImage> {
  const port = await freePort();
  const token = randomBytes(18).toString('base64url');
  const container = await docker.createContainer({
    Image: ref,
    Env: Object.entries({ ...env, BERTH_BRIDGE_TOKEN: token }).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: {
      PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
      Ulimits: [
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
        { Name: 'nproc', Soft: 1024, Hard: 1024 },
      ],
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,size=16m' },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
    },
  });
  const stop = async (): Promise<void> => {
    await container.remove({ force: true }).catch(() => {});
  };
  try {
    try {
      await container.start();
    } catch (err) {
      // runc on a loaded 2-core host now and then fails a start ("can't get final child's PID from pipe"): once more.
      if (!/OCI runtime error/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 1000));
      await container.start();
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status === 200) break;
      } catch {
        /* not yet */
      }
      const state = (await container.inspect()).State;
      if (!state.Running) throw new Error(`the container exited (${state.ExitCode}): ${await containerLogs(container)}`);
      if (Date.now() > deadline) throw new Error(`the container's bridge was not healthy within 60 s: ${await containerLogs(container)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const url = `http://127.0.0.1:${port}/mcp`;
  const headers = { authorization: `Bearer ${token}` };
  return { url, headers, containerId: container.id, client: () => toolCaller(url, headers), stop };
}

async function containerLogs(c: Docker.Container): Promise<string> {
  const buf = (await c.logs({ stdout: true, stderr: true, tail: 30 }).catch(() => Buffer.alloc(0))) as Buffer;
  // Multiplexed frames: an 8-byte header before each chunk; the text is readable enough without demuxing.
  return buf.toString('utf8').replace(/[\x00-\x08]/g, '');
}

/** Removes every image carrying `label=value` (and what tags they have). */
export async function removeImages(docker: Docker, label: string, value: string): Promise<void> {
  const images = await docker.listImages({ filters: { label: [`${label}=${value}`] } }).catch(() => []);
  for (const img of images) await docker.getImage(img.Id).remove({ force: true }).catch(() => {});
}

export interface Registry {
  /** host:port on 127.0.0.1 */
  host: string;
  stop(): Promise<void>;
}

/** Debian's docker-registry (distribution 2.8) on a free loopback port, with a temporary config and storage. */
export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch {
      /* starting */
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, stop };
}
