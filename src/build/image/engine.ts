/**
 * Image builds and pushes through the Docker Engine API (dockerode): Docker's own, or Podman's compatible socket
 * (`podman system service`). The engine answers both with a stream of JSON messages; they are read line by line
 * with bounded buffers, the build's output goes to `log` as it comes, its `STEP n/m` lines to `progress`, and a
 * failure keeps the last lines of the log for its error.
 */
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { BerthError } from '../../core/errors.js';

/** Longest log line passed on (longer ones are cut, with a marker). */
const MAX_LINE = 8 * 1024;
/** Longest JSON message read from the engine before it is given up on. */
const MAX_MESSAGE = 1024 * 1024;
/** Lines of log kept for a failure's message. */
const TAIL = 40;

export interface BuildRequest {
  /** The build context, a tar stream (see context.ts). */
  context: Readable;
  /** The tag the image gets (REGISTRY/berth/ID:rN). */
  tag: string;
  labels?: Record<string, string>;
  buildargs?: Record<string, string>;
  /** The Dockerfile's path in the context (default `Dockerfile`). */
  dockerfile?: string;
  timeoutMs: number;
  log(line: string): void;
  progress(message: string): void;
}

export interface BuildResult {
  /** The image id (sha256:…). */
  id: string;
  /** The instructions the engine took from its layer cache ("Using cache"), e.g. `RUN ["npm","ci"]`. */
  cached: string[];
  /** Steps it went through, over all stages. */
  steps: number;
}

/** Maps a transport failure to ENGINE_UNAVAILABLE (no socket, refused) or passes a BerthError through. */
export function engineError(err: unknown, what: string): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as { code?: string; message?: string; statusCode?: number; json?: { message?: string } };
  if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' || e.code === 'EACCES')
    return new BerthError('ENGINE_UNAVAILABLE', `The container engine cannot be reached (${e.code}): ${e.message ?? ''}`.trim(), { cause: e.code });
  return new BerthError('BUILD_FAILED', `${what}: ${e.json?.message ?? e.message ?? String(err)}`);
}

/** Splits a byte stream into lines (bounded), then each complete JSON message to `onMessage`. */
function readMessages(stream: NodeJS.ReadableStream, onMessage: (m: Record<string, unknown>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    // A message spread over several lines (rare: the engine escapes newlines in its strings) is put back together.
    let pending = '';
    const take = (piece: string): void => {
      pending = pending === '' ? piece : `${pending}\n${piece}`;
      if (pending.trim() === '') {
        pending = '';
        return;
      }
      try {
        const m = JSON.parse(pending) as Record<string, unknown>;
        pending = '';
        onMessage(m);
      } catch {
        /* not complete yet */
      }
    };
    stream.on('data', (c: Buffer | string) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (buf.length + pending.length > MAX_MESSAGE) {
        (stream as Readable).destroy?.();
        reject(new BerthError('BUILD_FAILED', `The engine sent a message longer than ${MAX_MESSAGE} bytes`));
      }
    });
    stream.on('end', () => {
      if (buf !== '') take(buf);
      resolve();
    });
    stream.on('error', reject);
  });
}

/** Builds an image; logs each line of the build's output, reports its steps, fails with BUILD_FAILED and the log's tail. */
export async function buildImage(docker: Dockerode, req: BuildRequest): Promise<BuildResult> {
  const tail: string[] = [];
  let partial = '';
  const cached: string[] = [];
  let current = '';
  let steps = 0;
  let error: string | null = null;
  let id: string | null = null;
  const line = (raw: string): void => {
    const l = raw.length > MAX_LINE ? `${raw.slice(0, MAX_LINE)}… (${raw.length - MAX_LINE} more characters)` : raw;
    tail.push(l);
    if (tail.length > TAIL) tail.shift();
    req.log(l);
    // Podman: `[1/2] STEP 3/9: RUN …` (the stage first when there are several); Docker: `Step 3/9 : RUN …`.
    const step = /^(?:\[(\d+)\/(\d+)\]\s+)?(?:STEP|Step)\s+(\d+)\/(\d+)\s*:\s*(.*)$/.exec(l);
    if (step) {
      steps++;
      current = step[5] ?? '';
      req.progress(`building image: step ${step[3]}/${step[4]}${step[1] ? ` (stage ${step[1]}/${step[2]})` : ''}`);
    }
    if (/Using cache/.test(l) && cached.length < 1000) cached.push(current);
  };
  const text = (s: string): void => {
    partial += s;
    const parts = partial.split(/\r?\n/);
    partial = parts.pop() ?? '';
    if (partial.length > MAX_LINE * 4) {
      parts.push(partial);
      partial = '';
    }
    for (const p of parts) if (p.trim() !== '') line(p.replace(/\s+$/, ''));
  };
  const signal = AbortSignal.timeout(req.timeoutMs);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(req.context, {
      t: req.tag,
      dockerfile: req.dockerfile ?? 'Dockerfile',
      rm: true,
      forcerm: true,
      ...(req.labels ? { labels: req.labels } : {}),
      ...(req.buildargs && Object.keys(req.buildargs).length > 0 ? { buildargs: req.buildargs } : {}),
      abortSignal: signal,
    });
  } catch (err) {
    if (signal.aborted) throw timedOut(req.timeoutMs, tail);
    throw engineError(err, 'The engine refused the build');
  }
  try {
    await readMessages(stream, (m) => {
      if (typeof m.stream === 'string') text(m.stream);
      if (typeof m.status === 'string') text(`${m.status}\n`);
      if (typeof m.error === 'string') error = m.error;
      const aux = m.aux as { ID?: unknown } | undefined;
      if (aux && typeof aux.ID === 'string') id = aux.ID;
    });
  } catch (err) {
    if (signal.aborted) throw timedOut(req.timeoutMs, tail);
    throw err instanceof BerthError ? err : new BerthError('BUILD_FAILED', `The build's output broke off: ${(err as Error).message}`, { log: tail });
  }
  if (partial.trim() !== '') line(partial.trimEnd());
  if (error !== null) {
    const message = String(error).trim();
    if (!tail.includes(message)) line(message);
    throw new BerthError('BUILD_FAILED', `Building the image failed: ${message}\n${tail.join('\n')}`, { log: [...tail] });
  }
  // Podman's compat API sends the id in an aux message; Docker too. Else the tag says which image it is.
  const image = await docker
    .getImage(req.tag)
    .inspect()
    .catch((err: unknown) => {
      throw new BerthError('BUILD_FAILED', `The build ended without the image ${req.tag}: ${(err as Error).message}\n${tail.join('\n')}`, { log: [...tail] });
    });
  return { id: image.Id ?? id ?? '', cached, steps };
}

function timedOut(ms: number, tail: string[]): BerthError {
  return new BerthError('BUILD_FAILED', `The build took longer than ${Math.round(ms / 1000)} s (BERTH_BUILD_TIMEOUT_S)\n${tail.join('\n')}`, { log: [...tail] });
}
