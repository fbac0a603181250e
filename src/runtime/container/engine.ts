/**
 * The few Docker Engine API calls the container driver makes, through dockerode, with the engine's failures turned
 * into Berth's codes: no engine on the socket → ENGINE_UNAVAILABLE (naming the socket), no such image →
 * IMAGE_NOT_FOUND. Works against Docker and Podman's compatible service (`podman system service`).
 */
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { BerthError } from '../../core/errors.js';
import { settleWithin } from '../../core/timeout.js';
import { LABEL_DEPLOYMENT } from '../types.js';
import { LABEL_OWNER, type ImageFacts } from './create-options.js';

export interface EngineInfo {
  podman: boolean;
  version: string;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export class Engine {
  private client: Docker | null = null;
  private info: Promise<EngineInfo> | null = null;

  constructor(readonly socketPath: string) {}

  /** The engine client; made by ready() (dockerode loads with the first container, not with Berth). */
  get docker(): Docker {
    if (!this.client) throw new BerthError('ENGINE_UNAVAILABLE', `The container engine at ${this.socketPath} was not contacted yet`);
    return this.client;
  }

  /** Pings the engine once (again after a failure); ENGINE_UNAVAILABLE when nothing answers. */
  ready(): Promise<EngineInfo> {
    if (!this.info) {
      this.info = (async () => {
        try {
          if (!this.client) {
            const { default: Dockerode } = await import('dockerode');
            this.client = new Dockerode({ socketPath: this.socketPath, timeout: 0 });
            retryNetnsFailures(this.client);
          }
          await withTimeout(this.docker.ping(), 30_000);
          const v = (await withTimeout(this.docker.version(), 30_000)) as { Version?: string; Components?: { Name?: string }[] };
          return { podman: (v.Components ?? []).some((c) => /podman/i.test(c.Name ?? '')), version: v.Version ?? 'unknown' };
        } catch (err) {
          throw this.unavailable(err);
        }
      })();
      this.info.catch(() => {
        this.info = null;
      });
    }
    return this.info;
  }

  /** An engine error as a BerthError: unreachable → ENGINE_UNAVAILABLE; others keep their message. */
  unavailable(err: unknown): BerthError {
    if (err instanceof BerthError) return err;
    return new BerthError('ENGINE_UNAVAILABLE', `No container engine answers on ${this.socketPath} (${describe(err)}); start one (podman system service, or dockerd) or point BERTH_CONTAINER_SOCKET at its socket`, { socket: this.socketPath });
  }

  /** True for an error that means the engine itself cannot be reached. */
  isUnreachable(err: unknown): boolean {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    return code !== undefined && UNREACHABLE.has(code);
  }

  /** What the image says about its user and command; pulls it once when the engine lacks it. */
  async image(ref: string, log?: (line: string) => void): Promise<ImageFacts> {
    let data: { Config?: { User?: string; Entrypoint?: string[] | string | null; Cmd?: string[] | string | null; Labels?: Record<string, string> | null } };
    try {
      data = (await this.docker.getImage(ref).inspect()) as typeof data;
    } catch (err) {
      if (this.isUnreachable(err)) throw this.unavailable(err);
      if (statusOf(err) !== 404) throw err;
      log?.(`image ${ref} is not in the engine: pulling it`);
      try {
        await this.pull(ref);
        data = (await this.docker.getImage(ref).inspect()) as typeof data;
      } catch (pullErr) {
        throw new BerthError('IMAGE_NOT_FOUND', `Image ${ref} is not in the container engine and could not be pulled (${describe(pullErr)}); load it first (podman pull / podman load / docker pull)`, { image: ref });
      }
    }
    const list = (v: string[] | string | null | undefined): string[] => (Array.isArray(v) ? v : typeof v === 'string' && v !== '' ? [v] : []);
    return { user: data.Config?.User ?? '', entrypoint: list(data.Config?.Entrypoint), cmd: list(data.Config?.Cmd), bridge: Boolean(data.Config?.Labels?.['berth.bridge']) };
  }

  private async pull(ref: string): Promise<void> {
    const stream = (await withTimeout(this.docker.pull(ref), 60_000)) as NodeJS.ReadableStream;
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, out: { error?: string }[]) => {
          const failed = err ?? out.find((o) => o.error);
          if (failed) reject(failed instanceof Error ? failed : new Error(String(failed.error)));
          else resolve();
        });
      }),
      300_000,
    );
  }

  /** The deployment's own network (created when missing): on Podman isolated from every other network. */
  async network(name: string, deploymentId: string, owner: string): Promise<void> {
    const info = await this.ready();
    try {
      await this.docker.getNetwork(name).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw this.isUnreachable(err) ? this.unavailable(err) : err;
    }
    try {
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { [LABEL_OWNER]: owner, [LABEL_DEPLOYMENT]: deploymentId },
        // Podman: drop traffic between this network and every other one (servers cannot reach each other).
        // Docker isolates bridge networks from each other by default.
        ...(info.podman ? { Options: { isolate: 'true' } } : {}),
      });
    } catch (err) {
      if (statusOf(err) !== 409 && !/already exists/i.test(describe(err))) throw err;
    }
  }

  /**
   * Removes the images Berth built for a deployment (its revisions' tags and the labelled build stages): those
   * carrying its berth.deployment label and the bridge label every built image has. Images it only ran stay.
   */
  async removeBuiltImages(deploymentId: string): Promise<number> {
    // One label filter (Podman 4.3 answers two with nothing); the bridge label is checked here.
    const found = await this.docker.listImages({ filters: { label: [`${LABEL_DEPLOYMENT}=${deploymentId}`] } });
    let removed = 0;
    for (const img of found) {
      if (img.Labels?.[LABEL_DEPLOYMENT] !== deploymentId || !img.Labels['berth.bridge']) continue;
      try {
        await this.docker.getImage(img.Id).remove({ force: true });
        removed++;
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }
    return removed;
  }

  /** A container's memory in use, CPU time and tasks, from one non-streaming stats call. */
  async stats(containerId: string): Promise<{ memoryBytes: number; cpuSeconds: number; processes: number }> {
    const s = (await this.docker.getContainer(containerId).stats({ stream: false })) as {
      memory_stats?: { usage?: number };
      cpu_stats?: { cpu_usage?: { total_usage?: number } };
      pids_stats?: { current?: number };
    };
    return { memoryBytes: s.memory_stats?.usage ?? 0, cpuSeconds: (s.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9, processes: s.pids_stats?.current ?? 0 };
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }
}

/** `${base}-${12 hex of the deployment id's hash}`: a valid network name whatever the id's length. */
export function deploymentNetwork(base: string, deploymentId: string): string {
  return `${base}-${createHash('sha256').update(deploymentId).digest('hex').slice(0, 12)}`;
}

export function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number } | undefined)?.statusCode;
}

export function describe(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string; code?: string } | undefined;
  return e?.json?.message ?? e?.message ?? e?.code ?? String(err);
}

/** An engine call that did not answer in time: ETIMEDOUT, which `unavailable` reports as ENGINE_UNAVAILABLE. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return settleWithin(p, ms, () => Object.assign(new Error(`no answer within ${ms / 1000}s`), { code: 'ETIMEDOUT' }));
}

/**
 * Podman 4.3 on this kind of host now and then fails a call with "unknown FS magic on /run/netns/…" while it
 * syncs a container's network namespace (seen on start, inspect, wait and stop; the container itself is fine).
 * Such a call is tried again, up to four times, a little later: every call goes through the modem's dial.
 */
function retryNetnsFailures(docker: Docker): void {
  const modem = docker.modem as unknown as { dial: (opts: unknown, cb: (err: unknown, data: unknown) => void) => void };
  const dial = modem.dial.bind(modem);
  modem.dial = (opts, cb) => {
    let attempt = 0;
    const go = (): void =>
      dial(opts, (err, data) => {
        if (err && attempt < 4 && /unknown FS magic|network namespace/i.test(describe(err))) {
          attempt++;
          setTimeout(go, 200 * attempt);
          return;
        }
        cb(err, data);
      });
    go();
  };
}
