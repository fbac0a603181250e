/**
 * The engine's create request for one workload: what every container gets (ADR 0022) — a non-root user, a
 * read-only root filesystem with a tmpfs /tmp, the deployment's work folder as HOME, every capability dropped,
 * no-new-privileges, memory (no swap), CPU and pids limits, the deployment's own network, its port published on
 * 127.0.0.1 only — and, for a stdio image, Berth's single-file bridge mounted read-only as the entry point.
 * Pure: the driver inspects the image and picks the port; this file only assembles.
 */
import type { ServerLimits, Workload } from '../types.js';

/** The user a container runs as when its image names none or names root. */
export const DEFAULT_UID = 10001;
/** Where the deployment's work folder is mounted, and what HOME says. */
export const CONTAINER_HOME = '/home/berth';
/** Where Berth's bridge (dist/berth.mjs) is mounted in a stdio image. */
export const BRIDGE_PATH = '/berth/berth.mjs';
/** The port the bridge listens on inside a stdio image. */
export const BRIDGE_PORT = 8080;
/** Labels every container (and network) Berth makes carries, beside berth.deployment and berth.revision. */
export const LABEL_OWNER = 'berth.owner';
export const LABEL_RUNTIME = 'berth.runtime';
/** The path Berth reaches MCP at inside the container (for a later Berth that adopts it). */
export const LABEL_PATH = 'berth.path';

/** What the image says about itself (from the engine's image inspect). */
export interface ImageFacts {
  user: string;
  entrypoint: string[];
  cmd: string[];
  /** The image's entry point is Berth's bridge (label berth.bridge, set on images Berth builds): it takes BERTH_BRIDGE_TOKEN. */
  bridge?: boolean;
}

export interface CreateInputs {
  workload: Workload;
  name: string;
  owner: string;
  network: string;
  hostPort: number;
  limits: ServerLimits;
  image: ImageFacts;
  /** Host path of the deployment's work folder (mounted rw as HOME). */
  workDir: string;
  /** Host path of dist/berth.mjs (stdio images). */
  bridgeFile: string;
  /** The bearer token the bridge requires (stdio images). */
  token: string | null;
  /** Size of the /tmp tmpfs in MiB. */
  tmpMb: number;
}

/** True when an image's USER is unset or root (by name or uid 0). */
export function runsAsRoot(user: string): boolean {
  const u = user.trim().split(':')[0] ?? '';
  return u === '' || u === 'root' || u === '0';
}

/** The user a container runs as: the image's when it names a non-root one, else DEFAULT_UID. */
export function containerUser(image: ImageFacts): string {
  return runsAsRoot(image.user) ? `${DEFAULT_UID}:${DEFAULT_UID}` : image.user;
}

/** The port the workload serves on inside the container. */
export function innerPort(w: Workload): number {
  const img = w.launch.image!;
  return img.serves === 'stdio' ? BRIDGE_PORT : img.port;
}

/** The command a stdio image's bridge runs: the launch's own, else the image's entrypoint and command. */
export function stdioCommand(w: Workload, image: ImageFacts): string[] {
  if (w.launch.command !== '') return [w.launch.command, ...w.launch.args];
  return [...image.entrypoint, ...image.cmd, ...w.launch.args];
}

/** A container's bridge takes a bearer token: Berth's own bridge round a stdio image, and the entry point of an image Berth built (berth.bridge). */
export function needsBridgeToken(serves: 'stdio' | 'http', image: ImageFacts): boolean {
  return serves === 'stdio' || image.bridge === true;
}

export function createOptions(i: CreateInputs): Record<string, unknown> {
  const w = i.workload;
  const img = w.launch.image!;
  const port = `${innerPort(w)}/tcp`;
  const env: Record<string, string> = { HOME: CONTAINER_HOME, ...w.launch.env };
  let entrypoint: string[] | undefined;
  let cmd: string[] | undefined;
  const binds = [`${i.workDir}:${CONTAINER_HOME}:rw`, ...(w.launch.mounts ?? []).map((m) => `${m.path}:${m.path}:${m.mode}`), ...(w.launch.internalMounts ?? []).map((p) => `${p}:${p}:ro`)];
  if (img.serves === 'stdio') {
    const command = stdioCommand(w, i.image);
    const mode = w.bridge?.mode === 'isolated' ? ['--isolated', '--warm', String(w.bridge.warm), '--max-sessions', String(w.bridge.max)] : [];
    entrypoint = ['node', BRIDGE_PATH, 'bridge', '--port', String(BRIDGE_PORT), '--host', '0.0.0.0', ...mode, '--'];
    cmd = command;
    binds.push(`${i.bridgeFile}:${BRIDGE_PATH}:ro`);
    if (i.token !== null) env.BERTH_BRIDGE_TOKEN = i.token;
  } else if (w.launch.command !== '') {
    if (i.token !== null) env.BERTH_BRIDGE_TOKEN = i.token;
    entrypoint = [w.launch.command];
    cmd = w.launch.args;
  } else {
    if (i.token !== null) env.BERTH_BRIDGE_TOKEN = i.token;
    if (w.launch.args.length > 0) cmd = w.launch.args;
  }
  const nofile = 4096;
  return {
    name: i.name,
    Image: img.ref,
    ...(entrypoint ? { Entrypoint: entrypoint } : {}),
    ...(cmd ? { Cmd: cmd } : {}),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    User: containerUser(i.image),
    ...(w.launch.cwd ? { WorkingDir: w.launch.cwd } : {}),
    Labels: { ...w.labels, [LABEL_OWNER]: i.owner, [LABEL_RUNTIME]: 'container', [LABEL_PATH]: img.serves === 'stdio' ? '/mcp' : img.path },
    ExposedPorts: { [port]: {} },
    StopSignal: 'SIGTERM',
    HostConfig: {
      NetworkMode: i.network,
      PortBindings: { [port]: [{ HostIp: '127.0.0.1', HostPort: String(i.hostPort) }] },
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${i.tmpMb}m` },
      Binds: binds,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      Memory: Math.round(i.limits.memoryMb * 1024 * 1024),
      MemorySwap: Math.round(i.limits.memoryMb * 1024 * 1024),
      NanoCpus: Math.round(i.limits.cpus * 1e9),
      PidsLimit: i.limits.pids,
      // Within the host's hard limits (an engine default above them fails with "setrlimit: Operation not permitted").
      Ulimits: [
        { Name: 'nofile', Soft: nofile, Hard: nofile },
        { Name: 'nproc', Soft: Math.max(i.limits.pids, 1024), Hard: Math.max(i.limits.pids, 1024) },
      ],
      RestartPolicy: { Name: 'no' },
      AutoRemove: false,
    },
  };
}
