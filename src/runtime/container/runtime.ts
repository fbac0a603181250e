import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { BerthError } from '../../core/errors.js';
import type { IsolationView } from '../../core/isolation.js';
import { LABEL_DEPLOYMENT, LABEL_REVISION, type ExitInfo, type LaunchPolicy, type ServerLimits, type Workload, type WorkloadAddress, type WorkloadLogLine, type WorkloadLogs, type WorkloadRuntime, type WorkloadState, type WorkloadStats } from '../types.js';
import { checkDeploymentId, checkWorkload, matchesLabels, removeLeftovers, workFolder } from '../workload-book.js';
import { containerUser, createOptions, innerPort, needsBridgeToken, LABEL_OWNER, LABEL_PATH, type ImageFacts } from './create-options.js';
import { deploymentNetwork, describe, Engine, statusOf } from './engine.js';
import { eachLine } from '../../core/lines.js';
import { KernelOomLog } from './oom.js';
import { admitContainerPolicy, containerIsolation, resolveContainerLimits, type ContainerLimits } from './policy.js';

export interface ContainerRuntimeOptions {
  /** The Docker Engine API socket (BERTH_CONTAINER_SOCKET), or an engine already made. */
  socketPath: string;
  dataDir: string;
  logs: WorkloadLogs;
  /** This Berth's owner label value: containers carrying another are not its own (another Berth on the same engine). */
  owner: string;
  /** BERTH_CONTAINER_NETWORK: each deployment gets its own network named `NAME-<hash of its id>`. */
  network: string;
  /** Host path of dist/berth.mjs, mounted read-only at /berth/berth.mjs in stdio images. */
  bridgeFile: string;
  /** The image a workload without one runs in (a command run as a stdio server in it: BERTH_BASE_IMAGE). */
  defaultImage: string;
  limits: ContainerLimits;
  /** Host folders a spec may mount (BERTH_MOUNT_ROOTS). */
  mountRoots: string[];
  readyTimeoutMs?: number;
  stopGraceMs?: number;
  /** `leave` (Berth's default): Berth shutdown leaves containers running for the next Berth to adopt; `stop` stops and removes them. */
  onShutdown?: 'leave' | 'stop';
  /** A container that exits after it was ready is started again after initialDelayMs, doubling up to maxDelayMs; more than maxCrashes in windowMs leaves it exited. */
  restart?: { initialDelayMs: number; maxDelayMs: number; maxCrashes: number; windowMs: number };
  /** A workload's container (or a process in it) ended on its own: how (exit code, OOM). */
  onExit?: (deploymentId: string, revision: number, info: ExitInfo & { pid: number }) => void;
  /** Size of each container's /tmp tmpfs (default 64 MiB). */
  tmpMb?: number;
}

interface Entry {
  workload: Workload;
  containerId: string;
  name: string;
  pid: number;
  address: WorkloadAddress & { kind: 'http' };
  limits: ServerLimits;
  running: boolean;
  ready: boolean;
  stopped: boolean;
  lastExit: ExitInfo | null;
  crashes: number[];
  /** Resolves when the current run of the container ends. */
  exited: Promise<ExitInfo>;
  onExited: (info: ExitInfo) => void;
  abort: AbortController;
  oomSeen: number;
}

/** Start failures Podman 4.3 has now and then on this kind of host that a second try gets past. */
const TRANSIENT_START = /netns|network namespace|final child's PID|duplicate allocation/i;

const DEFAULT_RESTART = { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 120_000 };

/**
 * The container driver (ADR 0022): each workload is one container on the Docker Engine API (Docker, or Podman's
 * compatible socket), hardened by default (create-options.ts), on its deployment's own network, its port published
 * on 127.0.0.1. An `http` image serves MCP itself; a `stdio` image (or a command run in the default image) runs
 * behind Berth's bridge inside the container, which requires a bearer token made per workload.
 * Containers carry berth.deployment, berth.revision and berth.owner labels: a restarted Berth finds them with
 * `list()` and `ensure()` adopts a running one instead of starting a second. A container that exits after it was
 * ready is started again with backoff; one killed by the kernel for its memory limit is reported as such.
 */
export class ContainerRuntime implements WorkloadRuntime {
  readonly name = 'container';
  private readonly engine: Engine;
  private readonly entries = new Map<string, Map<number, Entry>>();
  private readonly starting = new Map<string, Promise<Entry>>();
  private readonly oomLog = new KernelOomLog();
  private oomTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private detached = false;

  constructor(private readonly opts: ContainerRuntimeOptions) {
    if (!opts.socketPath.startsWith('/')) throw new Error('ContainerRuntime: socketPath must be an absolute path');
    this.engine = new Engine(opts.socketPath);
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** Resolves when the engine answers; ENGINE_UNAVAILABLE naming the socket otherwise. */
  async ready(): Promise<void> {
    await this.engine.ready();
  }

  admit(policy: LaunchPolicy): void {
    admitContainerPolicy(policy, this.opts.limits, this.opts.mountRoots);
  }

  isolation(policy: LaunchPolicy): IsolationView {
    return containerIsolation(policy, this.opts.limits);
  }

  notices(): string[] {
    return [`runtime container: the engine at ${this.opts.socketPath} is asked only when a deployment runs on it`];
  }

  async ensure(workload: Workload): Promise<WorkloadState & { address: WorkloadAddress }> {
    checkWorkload(workload);
    if (this.stopping) throw new BerthError('UPSTREAM_UNAVAILABLE', 'Berth is shutting down');
    const key = `${workload.deploymentId}#${workload.revision}`;
    const current = this.entries.get(workload.deploymentId)?.get(workload.revision);
    if (current && !current.stopped && current.running) {
      await this.waitReady(current);
      return { ...this.state(current), address: current.address };
    }
    let pending = this.starting.get(key);
    if (!pending) {
      pending = this.start(workload).finally(() => this.starting.delete(key));
      this.starting.set(key, pending);
    }
    const entry = await pending;
    return { ...this.state(entry), address: entry.address };
  }

  async observe(deploymentId: string): Promise<WorkloadState | null> {
    checkDeploymentId(deploymentId);
    const revisions = this.entries.get(deploymentId);
    if (revisions && revisions.size > 0) return this.state(revisions.get(Math.max(...revisions.keys()))!);
    const found = await this.list({ [LABEL_DEPLOYMENT]: deploymentId });
    return found.sort((a, b) => b.revision - a.revision)[0] ?? null;
  }

  async list(labels: Record<string, string> = {}): Promise<WorkloadState[]> {
    const out: WorkloadState[] = [];
    const seen = new Set<string>();
    for (const revs of this.entries.values()) {
      for (const e of revs.values()) {
        seen.add(e.containerId);
        if (matchesLabels(e.workload.labels, labels)) out.push(this.state(e));
      }
    }
    if (!(await this.engineAnswers())) return out;
    for (const c of await this.containers(labels)) {
      if (seen.has(c.Id) || this.isStopping(c.Id)) continue;
      const s = await this.foundState(c.Id).catch(() => null);
      if (s && matchesLabels(s.labels, labels)) out.push(s);
    }
    return out;
  }

  /**
   * Berth is shutting down (onShutdown `leave`): from now on `stop` (the endpoints closing) only forgets a
   * container and leaves it running for the next Berth to adopt.
   */
  detach(): void {
    if ((this.opts.onShutdown ?? 'leave') === 'leave') this.detached = true;
  }

  async stop(deploymentId: string, opts: { revision?: number; graceMs?: number } = {}): Promise<void> {
    checkDeploymentId(deploymentId);
    const revisions = this.entries.get(deploymentId);
    const doomed = revisions ? [...revisions.values()].filter((e) => opts.revision === undefined || e.workload.revision === opts.revision) : [];
    for (const e of doomed) {
      revisions!.delete(e.workload.revision);
      e.stopped = true;
      e.abort.abort();
    }
    if (revisions && revisions.size === 0) this.entries.delete(deploymentId);
    if (this.detached) return;
    const grace = opts.graceMs ?? this.opts.stopGraceMs ?? 10_000;
    await Promise.all(doomed.map((e) => this.removeContainer(e.containerId, grace)));
    // What a previous Berth left for this deployment (not adopted yet) goes too.
    if (await this.engineAnswers()) {
      const filter = { [LABEL_DEPLOYMENT]: deploymentId, ...(opts.revision === undefined ? {} : { [LABEL_REVISION]: String(opts.revision) }) };
      const left = (await this.containers(filter)).filter((c) => !doomed.some((e) => e.containerId === c.Id) && !this.isMine(c.Id));
      await Promise.all(left.map((c) => this.removeContainer(c.Id, grace)));
    }
    this.stopOomWatchIfIdle();
  }

  async remove(deploymentId: string, opts: { keepLogs?: boolean; graceMs?: number } = {}): Promise<void> {
    await this.stop(deploymentId, { graceMs: opts.graceMs });
    if (await this.engineAnswers()) {
      await this.engine.removeNetwork(deploymentNetwork(this.opts.network, deploymentId)).catch(() => {});
      const images = await this.engine.removeBuiltImages(deploymentId).catch((err: unknown) => {
        this.opts.logs.append(deploymentId, 'system', `removing its images failed: ${describe(err)}`);
        return 0;
      });
      if (images > 0) this.opts.logs.append(deploymentId, 'system', `removed ${images} image${images === 1 ? '' : 's'} built for it`);
    }
    await removeLeftovers(this.opts.dataDir, this.opts.logs, deploymentId, opts.keepLogs === true);
  }

  logs(deploymentId: string, opts: { tail?: number } = {}): Promise<WorkloadLogLine[]> {
    checkDeploymentId(deploymentId);
    return this.opts.logs.read(deploymentId, opts);
  }

  /** From the engine's one-shot stats of each running revision's container (its cgroup: memory, CPU, tasks). */
  async stats(deploymentId: string): Promise<WorkloadStats[]> {
    checkDeploymentId(deploymentId);
    const live = [...(this.entries.get(deploymentId)?.values() ?? [])].filter((e) => e.running && !e.stopped).sort((a, b) => b.workload.revision - a.workload.revision);
    const out: WorkloadStats[] = [];
    for (const e of live) {
      const s = await this.engine.stats(e.containerId).catch(() => null);
      if (s) out.push({ deploymentId, revision: e.workload.revision, ...s });
    }
    return out;
  }

  /**
   * Berth start-up: removes this Berth's containers that no longer run (exited, never started). Running ones are
   * left for `ensure` to adopt; a resync ends those no deployment wants.
   */
  async reapOrphans(): Promise<{ deploymentId: string; instanceKey: string; pid: number }[]> {
    if (!(await this.engineAnswers())) return [];
    const out: { deploymentId: string; instanceKey: string; pid: number }[] = [];
    for (const c of await this.containers({})) {
      if (this.isMine(c.Id) || c.State === 'running') continue;
      await this.removeContainer(c.Id, 0).catch(() => {});
      out.push({ deploymentId: c.Labels[LABEL_DEPLOYMENT] ?? '?', instanceKey: `r${c.Labels[LABEL_REVISION] ?? '?'}`, pid: 0 });
    }
    return out;
  }

  async stopAll(graceMs?: number): Promise<void> {
    this.stopping = true;
    const all = [...this.entries.values()].flatMap((revs) => [...revs.values()]);
    this.entries.clear();
    for (const e of all) {
      e.stopped = true;
      e.abort.abort();
    }
    this.stopOomWatchIfIdle();
    this.oomLog.close();
    if ((this.opts.onShutdown ?? 'leave') === 'stop') {
      await Promise.all(all.map((e) => this.removeContainer(e.containerId, graceMs ?? this.opts.stopGraceMs ?? 10_000).catch(() => {})));
      // Their networks too, when nothing else uses them (the engine refuses to remove one in use).
      const ids = new Set(all.map((e) => e.workload.deploymentId));
      await Promise.all([...ids].map((id) => this.engine.removeNetwork(deploymentNetwork(this.opts.network, id)).catch(() => {})));
    }
  }

  // ---- starting and adopting ----

  private async start(w: Workload): Promise<Entry> {
    await this.engine.ready();
    const old = this.entries.get(w.deploymentId)?.get(w.revision);
    if (old) await this.stop(w.deploymentId, { revision: w.revision });
    const log = (line: string): void => this.opts.logs.append(w.deploymentId, 'system', line);
    const workload = withImage(w, this.opts.defaultImage);
    const limits = resolveContainerLimits(workload.launch.limits, this.opts.limits);
    // A running container of this revision (a previous Berth's): adopt it. One that ended: remove it.
    const filter = { [LABEL_DEPLOYMENT]: w.deploymentId, [LABEL_REVISION]: String(w.revision) };
    for (const c of await this.containers(filter)) {
      if (c.State === 'running') {
        const adopted = await this.adopt(c.Id, workload, limits).catch(() => null);
        if (adopted) {
          log(`adopted container ${c.Id.slice(0, 12)} of revision ${w.revision} (left running by a previous Berth)`);
          return adopted;
        }
      }
      await this.removeContainer(c.Id, 0);
    }
    if (workload.launch.image!.serves === 'stdio' && !existsSync(this.opts.bridgeFile)) {
      throw new BerthError('RUNTIME_UNAVAILABLE', `A stdio image runs behind Berth's bridge, ${this.opts.bridgeFile}, which is missing: build it with npm run build`);
    }
    const image = await this.engine.image(workload.launch.image!.ref, log);
    const workDir = workFolder(this.opts.dataDir, w.deploymentId);
    prepareWorkDir(workDir, image);
    const network = deploymentNetwork(this.opts.network, w.deploymentId);
    await this.engine.network(network, w.deploymentId, this.opts.owner);
    const hostPort = await freeLoopbackPort();
    // The bridge takes a token: Berth's own in a stdio image, and the entry point of an image Berth built (berth.bridge).
    const token = needsBridgeToken(workload.launch.image!.serves, image) ? randomBytes(24).toString('base64url') : null;
    const name = containerName(this.opts.owner, w.deploymentId, w.revision);
    const create = createOptions({ workload, name, owner: this.opts.owner, network, hostPort, limits, image, workDir, bridgeFile: this.opts.bridgeFile, token, tmpMb: this.opts.tmpMb ?? 64 });
    // One create and start at a time: Podman 4.3 fails concurrent starts now and then (runc pipe EOF, CNI allocation).
    const release = await this.startLock();
    let container: Docker.Container;
    try {
      container = await this.createAndStart(create, name, w.deploymentId, log);
    } finally {
      release();
    }
    const pid = ((await container.inspect()) as { State?: { Pid?: number } }).State?.Pid ?? 0;
    log(`container ${container.id.slice(0, 12)} started (image ${workload.launch.image!.ref}, user ${containerUser(image)}, memory ${limits.memoryMb} MiB, cpus ${limits.cpus}, pids ${limits.pids}, network ${network}, 127.0.0.1:${hostPort})`);
    const url = `http://127.0.0.1:${hostPort}${workload.launch.image!.serves === 'stdio' ? '/mcp' : workload.launch.image!.path}`;
    const entry = this.track(workload, container.id, name, pid, url, token, limits, Math.floor(Date.now() / 1000) - 1);
    try {
      await this.waitReady(entry);
    } catch (err) {
      if (entry.lastExit === null) await this.stop(w.deploymentId, { revision: w.revision }).catch(() => {});
      throw err;
    }
    return entry;
  }

  private startChain: Promise<void> = Promise.resolve();

  private async startLock(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = this.startChain;
    this.startChain = before.then(() => mine);
    await before;
    return release;
  }

  private async createAndStart(create: Record<string, unknown>, name: string, deploymentId: string, log: (line: string) => void): Promise<Docker.Container> {
    let container: Docker.Container;
    try {
      container = await this.engine.docker.createContainer(create as Docker.ContainerCreateOptions);
    } catch (err) {
      if (this.engine.isUnreachable(err)) throw this.engine.unavailable(err);
      if (statusOf(err) === 409) {
        await this.removeContainer(name, 0);
        container = await this.engine.docker.createContainer(create as Docker.ContainerCreateOptions);
      } else throw new BerthError('UPSTREAM_UNAVAILABLE', `The engine refused to create the container: ${describe(err)}`);
    }
    // Podman 4.3 fails a start now and then while it sets up the network namespace ("unknown FS magic on
    // /run/netns/…"): such a start is tried again, up to three times.
    for (let attempt = 1; ; attempt++) {
      try {
        await container.start();
        break;
      } catch (err) {
        if (attempt < 3 && TRANSIENT_START.test(describe(err))) {
          log(`the engine failed to set up the container's network (${describe(err)}); trying again`);
          await sleep(250 * attempt);
          continue;
        }
        await this.removeContainer(container.id, 0);
        throw new BerthError('UPSTREAM_UNAVAILABLE', `The container of ${deploymentId} did not start: ${describe(err)}`);
      }
    }
    return container;
  }

  private async adopt(id: string, w: Workload, limits: ServerLimits): Promise<Entry> {
    const c = (await this.engine.docker.getContainer(id).inspect()) as InspectInfo;
    const url = addressUrl(c);
    if (!url) throw new Error('no published port');
    const token = envOf(c).BERTH_BRIDGE_TOKEN ?? null;
    const entry = this.track(w, id, c.Name?.replace(/^\//, '') ?? id, c.State?.Pid ?? 0, url, token, limits, Math.floor(Date.now() / 1000));
    await this.waitReady(entry);
    return entry;
  }

  private track(w: Workload, containerId: string, name: string, pid: number, url: string, token: string | null, limits: ServerLimits, logsSince: number): Entry {
    let onExited!: (info: ExitInfo) => void;
    const exited = new Promise<ExitInfo>((r) => (onExited = r));
    const entry: Entry = {
      workload: w,
      containerId,
      name,
      pid,
      address: { kind: 'http', url, headers: token === null ? {} : { authorization: `Bearer ${token}` }, bridged: token !== null },
      limits,
      running: true,
      ready: false,
      stopped: false,
      lastExit: null,
      crashes: [],
      exited,
      onExited,
      abort: new AbortController(),
      oomSeen: 0,
    };
    let revisions = this.entries.get(w.deploymentId);
    if (!revisions) this.entries.set(w.deploymentId, (revisions = new Map()));
    revisions.set(w.revision, entry);
    this.startOomWatch();
    this.attachLogs(entry, logsSince);
    void this.watch(entry);
    return entry;
  }

  /** Follows the container's output into the deployment's log (bounded lines), from `since` (unix seconds). */
  private attachLogs(e: Entry, since: number): void {
    const id = e.workload.deploymentId;
    void (async () => {
      try {
        const stream = (await this.engine.docker.getContainer(e.containerId).logs({ follow: true, stdout: true, stderr: true, since, abortSignal: e.abort.signal } as Docker.ContainerLogsOptions & { follow: true })) as unknown as Readable;
        const out = new PassThrough();
        const err = new PassThrough();
        this.engine.docker.modem.demuxStream(stream, out, err);
        stream.on('end', () => {
          out.end();
          err.end();
        });
        stream.on('error', () => {
          out.end();
          err.end();
        });
        eachLine(out, (line) => this.opts.logs.append(id, 'stdout', line));
        eachLine(err, (line) => this.opts.logs.append(id, 'stderr', line));
      } catch {
        /* the container is gone, or the engine: the exit path reports it */
      }
    })();
  }

  /** Waits for each run of the container to end, reports how, and starts it again with backoff when it had been ready. */
  private async watch(e: Entry): Promise<void> {
    const container = this.engine.docker.getContainer(e.containerId);
    for (;;) {
      let code: number | null = null;
      try {
        const r = (await container.wait({ abortSignal: e.abort.signal } as Docker.ContainerWaitOptions)) as { StatusCode?: number };
        code = r.StatusCode ?? null;
      } catch (err) {
        if (e.stopped || this.stopping) return;
        if (this.engine.isUnreachable(err)) {
          await sleep(1_000);
          continue;
        }
        // The wait failed, not the container: wait again while it still runs.
        const still = (await container.inspect().catch(() => null)) as InspectInfo | null;
        if (still?.State?.Running) {
          await sleep(500);
          continue;
        }
      }
      if (e.stopped || this.stopping) return;
      // Podman's wait now and then returns while the container still runs: believe only the engine's state.
      const after = (await container.inspect().catch(() => null)) as InspectInfo | null;
      if (after?.State?.Running) {
        await sleep(500);
        continue;
      }
      if (after?.State?.ExitCode !== undefined) code = after.State.ExitCode;
      const info = await this.exitInfo(e, code);
      const wasReady = e.ready;
      e.running = false;
      e.ready = false;
      e.lastExit = info;
      e.onExited(info);
      const how = `${info.code === null ? `signal ${info.signal}` : `code ${info.code}`}${info.reason ? `: ${info.reason}` : ''}`;
      this.opts.logs.append(e.workload.deploymentId, 'system', `container ${e.containerId.slice(0, 12)} (revision ${e.workload.revision}) exited with ${how}`);
      this.opts.onExit?.(e.workload.deploymentId, e.workload.revision, { ...info, pid: e.pid });
      const policy = this.opts.restart ?? DEFAULT_RESTART;
      const now = Date.now();
      e.crashes = [...e.crashes.filter((t) => now - t < policy.windowMs), now];
      if (!wasReady) return; // it never became ready: a failed start, which ensure reports
      if (e.crashes.length > policy.maxCrashes) {
        this.opts.logs.append(e.workload.deploymentId, 'system', `container exited ${e.crashes.length} times in ${Math.round(policy.windowMs / 1000)}s: not restarting it`);
        return;
      }
      const delay = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (e.crashes.length - 1));
      this.opts.logs.append(e.workload.deploymentId, 'system', `restarting the container in ${(delay / 1000).toFixed(1)}s`);
      await sleep(delay);
      if (e.stopped || this.stopping) return;
      try {
        await container.start();
        e.pid = ((await container.inspect()) as InspectInfo).State?.Pid ?? 0;
      } catch (err) {
        this.opts.logs.append(e.workload.deploymentId, 'system', `the container could not be started again: ${describe(err)}`);
        return;
      }
      let onExited!: (info: ExitInfo) => void;
      e.exited = new Promise<ExitInfo>((r) => (onExited = r));
      e.onExited = onExited;
      e.running = true;
      this.attachLogs(e, Math.floor(Date.now() / 1000) - 1);
      void this.waitReady(e).catch(() => {});
    }
  }

  /** How a run ended: the exit code, and whether the kernel killed it for its memory limit. */
  private async exitInfo(e: Entry, code: number | null): Promise<ExitInfo> {
    let oomKilled = false;
    try {
      const c = (await this.engine.docker.getContainer(e.containerId).inspect()) as InspectInfo;
      oomKilled = c.State?.OOMKilled === true;
      if (code === null) code = c.State?.ExitCode ?? null;
    } catch {
      /* removed meanwhile */
    }
    this.scanOom();
    if (e.oomSeen > 0) {
      oomKilled = oomKilled || code === 137;
      e.oomSeen = 0;
    }
    const info: ExitInfo = { code, signal: null };
    if (oomKilled) info.reason = `out of memory: killed at the ${e.limits.memoryMb} MiB limit`;
    else if (code === 137) info.reason = 'killed (SIGKILL)';
    return info;
  }

  // ---- the kernel's OOM kills (oom.ts) ----

  private startOomWatch(): void {
    if (this.oomTimer || !this.oomLog.available) return;
    this.oomLog.scan(); // where the log is now: older kills are not news
    this.oomTimer = setInterval(() => this.scanOom(), 2_000);
    this.oomTimer.unref();
  }

  private stopOomWatchIfIdle(): void {
    if (this.entries.size > 0 && !this.stopping) return;
    if (this.oomTimer) clearInterval(this.oomTimer);
    this.oomTimer = undefined;
  }

  private scanOom(): void {
    for (const kill of this.oomLog.scan()) {
      const e = this.byContainer(kill.containerId);
      if (!e) continue;
      e.oomSeen++;
      const what = `${kill.task ?? 'a process'}${kill.pid === null ? '' : ` (pid ${kill.pid})`}`;
      const reason = `out of memory: killed at the ${e.limits.memoryMb} MiB limit`;
      this.opts.logs.append(e.workload.deploymentId, 'system', `${reason}: the kernel killed ${what} in container ${e.containerId.slice(0, 12)} (revision ${e.workload.revision})`);
      // The container's main process: its exit reports it. A process inside (the server behind the bridge): report it now.
      if (kill.pid !== null && kill.pid !== e.pid) this.opts.onExit?.(e.workload.deploymentId, e.workload.revision, { code: null, signal: 'SIGKILL', reason, pid: kill.pid });
    }
  }

  // ---- readiness ----

  /** Polls the container's port until it serves (the bridge's /health says 200; an http server answers at all). */
  private async waitReady(e: Entry): Promise<void> {
    if (e.ready) return;
    const stdio = e.workload.launch.image?.serves !== 'http';
    const url = stdio ? e.address.url.replace(/\/mcp$/, '/health') : e.address.url;
    const timeout = this.opts.readyTimeoutMs ?? 60_000;
    const deadline = Date.now() + timeout;
    const run = e.exited;
    while (Date.now() < deadline) {
      const done = await Promise.race([run, sleep(100).then(() => null)]);
      if (done) throw new BerthError('UPSTREAM_UNAVAILABLE', `The container of ${e.workload.deploymentId} exited (${done.code === null ? `signal ${done.signal}` : `code ${done.code}`}${done.reason ? `: ${done.reason}` : ''}) before its server was ready; see its logs`);
      if (e.stopped) throw new BerthError('UPSTREAM_UNAVAILABLE', `The workload of ${e.workload.deploymentId} was stopped while it started`);
      try {
        const res = await fetch(url, { headers: e.address.headers, signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        if (stdio ? res.status === 200 : res.status < 500) {
          e.ready = true;
          return;
        }
      } catch {
        /* not listening yet */
      }
    }
    throw new BerthError('UPSTREAM_TIMEOUT', `The container of ${e.workload.deploymentId} was not ready within ${Math.round(timeout / 1000)}s (port ${innerPort(e.workload)}); see its logs`);
  }

  // ---- what the engine has ----

  private async engineAnswers(): Promise<boolean> {
    try {
      await this.engine.ready();
      return true;
    } catch {
      return false;
    }
  }

  /** This Berth's containers (any state) whose labels include `labels`. */
  private async containers(labels: Record<string, string>): Promise<Docker.ContainerInfo[]> {
    const label = [`${LABEL_OWNER}=${this.opts.owner}`, ...Object.entries(labels).map(([k, v]) => `${k}=${v}`)];
    try {
      const found = await this.engine.docker.listContainers({ all: true, filters: { label } });
      return found.filter((c) => c.Labels?.[LABEL_OWNER] === this.opts.owner && matchesLabels(c.Labels, labels) && c.Labels[LABEL_DEPLOYMENT] !== undefined);
    } catch (err) {
      throw this.engine.isUnreachable(err) ? this.engine.unavailable(err) : err;
    }
  }

  /** The state of a container this runtime does not track (a previous Berth's), from the engine. */
  private async foundState(id: string): Promise<WorkloadState> {
    const c = (await this.engine.docker.getContainer(id).inspect()) as InspectInfo;
    const labels = c.Config?.Labels ?? {};
    const running = c.State?.Running === true;
    const url = running ? addressUrl(c) : null;
    const token = envOf(c).BERTH_BRIDGE_TOKEN;
    return {
      deploymentId: labels[LABEL_DEPLOYMENT] ?? '',
      revision: Number(labels[LABEL_REVISION] ?? 0),
      labels: Object.fromEntries(Object.entries(labels).filter(([k]) => k === LABEL_DEPLOYMENT || k === LABEL_REVISION)),
      phase: running ? 'running' : c.State?.Status === 'created' ? 'created' : 'exited',
      pids: running && c.State?.Pid ? [c.State.Pid] : [],
      lastExit: running || c.State?.Status === 'created' ? null : { code: c.State?.ExitCode ?? null, signal: null, ...(c.State?.OOMKilled ? { reason: 'out of memory' } : {}) },
      address: url ? { kind: 'http', url, headers: token ? { authorization: `Bearer ${token}` } : {}, bridged: Boolean(token) } : null,
      owned: true,
    };
  }

  private async removeContainer(idOrName: string, graceMs: number): Promise<void> {
    const c = this.engine.docker.getContainer(idOrName);
    try {
      await c.stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      const s = statusOf(err);
      if (s !== 304 && s !== 404 && !this.engine.isUnreachable(err)) {
        /* already stopping: remove with force below */
      }
    }
    try {
      await c.remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) !== 404 && !/no such container/i.test(describe(err))) throw err;
    }
  }

  private byContainer(id: string): Entry | undefined {
    for (const revs of this.entries.values()) for (const e of revs.values()) if (e.containerId === id) return e;
    return undefined;
  }

  private isMine(id: string): boolean {
    return this.byContainer(id) !== undefined;
  }

  private isStopping(_id: string): boolean {
    return false;
  }

  private state(e: Entry): WorkloadState {
    const alive = e.running && !e.stopped;
    return {
      deploymentId: e.workload.deploymentId,
      revision: e.workload.revision,
      labels: { ...e.workload.labels },
      phase: !alive ? 'exited' : e.ready ? 'running' : 'starting',
      pids: alive && e.pid > 0 ? [e.pid] : [],
      lastExit: e.lastExit,
      address: alive ? e.address : null,
      owned: true,
    };
  }
}

interface InspectInfo {
  Name?: string;
  State?: { Status?: string; Running?: boolean; Pid?: number; ExitCode?: number; OOMKilled?: boolean };
  Config?: { Labels?: Record<string, string>; Env?: string[] };
  NetworkSettings?: { Ports?: Record<string, { HostIp?: string; HostPort?: string }[] | null> };
  HostConfig?: { PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> };
}

/** The URL Berth reaches an existing container at: its published 127.0.0.1 port and the path its labels/env say. */
function addressUrl(c: InspectInfo): string | null {
  const ports = { ...(c.HostConfig?.PortBindings ?? {}), ...(c.NetworkSettings?.Ports ?? {}) };
  for (const binding of Object.values(ports)) {
    const port = binding?.find((b) => b.HostPort && b.HostPort !== '0')?.HostPort;
    if (port) return `http://127.0.0.1:${port}${c.Config?.Labels?.[LABEL_PATH] ?? '/mcp'}`;
  }
  return null;
}

function envOf(c: InspectInfo): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of c.Config?.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** A workload without an image runs its command as a stdio server in the default image. */
function withImage(w: Workload, defaultImage: string): Workload {
  if (w.launch.image) return w;
  return { ...w, launch: { ...w.launch, image: { ref: defaultImage, serves: 'stdio', port: 8080, path: '/mcp' } } };
}

function containerName(owner: string, deploymentId: string, revision: number): string {
  return `berth-${owner.slice(0, 8)}-${deploymentId.replace(/[^A-Za-z0-9_.-]/g, '_')}-r${revision}`;
}

/** The work folder (HOME) exists and the container's user can write it. */
function prepareWorkDir(dir: string, image: ImageFacts): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [uid, gid] = containerUser(image).split(':');
  if (uid !== undefined && /^\d+$/.test(uid)) {
    try {
      chownSync(dir, Number(uid), /^\d+$/.test(gid ?? '') ? Number(gid) : Number(uid));
    } catch {
      /* not root: the container's user may not write HOME */
    }
  }
  void path;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A port that was free on 127.0.0.1 a moment ago (the engine binds it next; a lost race fails that start). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
