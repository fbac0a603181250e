/**
 * `berth connect` (seed 004's local proxy): a desktop client that speaks only stdio talks to a deployment or a group
 * on Berth over Streamable HTTP. stdin/stdout carry newline-delimited JSON-RPC, nothing else (Berth's own lines go
 * to stderr). The client's initialize is kept: when the session is lost (Berth restarted, or the session expired),
 * a new one is opened with that same initialize and the requests that had no answer yet are sent again, so the
 * client never notices. Requests sent while Berth is down get a clear error each.
 */
import type { Readable } from 'node:stream';
import { exactOrigin } from '../mcp/remote/exact-origin.js';
import { StreamableChannel } from '../mcp/remote/streamable-channel.js';
import { RemoteHttp } from '../mcp/remote/wire.js';
import { readLines } from '../mcp/wire/lines.js';
import { errorResponse, idKey, INVALID_REQUEST, isMessage, isRequest, isResponse, PARSE_ERROR, UPSTREAM_UNAVAILABLE, type JsonRpcMessage, type JsonRpcRequest } from '../mcp/wire/jsonrpc.js';

export interface ConnectOptions {
  /** The MCP endpoint (`…/s/ID/mcp` or `…/g/NAME/mcp`). */
  url: string;
  headers: Record<string, string>;
  input: Readable;
  output: { write(chunk: string): unknown; readonly writableEnded?: boolean };
  /** A line for stderr. */
  log(line: string): void;
  signal?: AbortSignal;
  /** Longest wait for an answer's headers (default 60 s; answers that take longer stream as SSE). */
  timeoutMs?: number;
  /** Pause before re-initializing after a failed attempt, doubling up to 10 s (default 500 ms). */
  retryMs?: number;
}

/** Most client messages kept while a new session is opened; more fail at once. */
const MAX_QUEUED = 1000;
/** The longest line read from the client. */
const MAX_LINE = 64 * 1024 * 1024;
const REINIT = 'berth-connect-reinit-';

/** Runs until the client closes stdin (or `signal` aborts); the session with Berth is ended then. */
export async function runConnect(opts: ConnectOptions): Promise<void> {
  const http = new RemoteHttp(opts.url, opts.headers, opts.timeoutMs ?? 60_000, exactOrigin(opts.url));
  let init: JsonRpcRequest | null = null;
  /** The client has its initialize answer (else the answer of a re-initialize is given to it). */
  let initAnswered = false;
  let channel: StreamableChannel | null = null;
  let ready = false;
  let closing = false;
  let attempt = 0;
  const queue: string[] = [];
  /** Client requests sent on the current session and not answered yet: sent again on the next one. */
  const pending = new Map<string | number, string>();

  const write = (msg: unknown): void => {
    if (opts.output.writableEnded !== true) opts.output.write(`${JSON.stringify(msg)}\n`);
  };

  /** The answer to the re-initialize under way (`id`), handed over by fromBerth. */
  let reinit: { id: string; answered(result: { result: unknown } | null): void } | null = null;

  const open = (): StreamableChannel => {
    const c = new StreamableChannel({ http, key: 'connect', log: opts.log });
    readLines(c.stdout, { maxLineBytes: MAX_LINE, onLine: (line) => fromBerth(line.toString('utf8')) });
    void c.exited.then(() => {
      // A session that served ended: open another. (One that failed to open is handled by reopen itself.)
      if (channel !== c || closing) return;
      channel = null;
      ready = false;
      if (init) {
        opts.log('berth connect: the session with Berth ended; opening a new one');
        void reopen();
      }
    });
    return c;
  };

  const fromBerth = (line: string): void => {
    if (line.trim() === '') return;
    let msg: JsonRpcMessage;
    try {
      msg = JSON.parse(line) as JsonRpcMessage;
    } catch {
      return;
    }
    if (isResponse(msg) && msg.id !== null) {
      if (typeof msg.id === 'string' && msg.id.startsWith(REINIT)) {
        // Our own re-initialize: its answer goes to reopen, not to the client.
        if (reinit?.id === msg.id) reinit.answered('result' in msg ? { result: msg.result } : null);
        return;
      }
      // "the remote session has expired": the request is sent again on the next session, not failed.
      if ('error' in msg && msg.error.code === UPSTREAM_UNAVAILABLE && /session has expired/.test(msg.error.message)) return;
      if (init && idKey(msg.id) === idKey(init.id)) initAnswered = true;
      pending.delete(idKey(msg.id));
    }
    opts.output.write(`${line}\n`);
  };

  /** A new session with the client's own initialize, then what waited meanwhile. One loop, until it succeeds. */
  const reopen = async (): Promise<void> => {
    while (!closing && init) {
      const c = open();
      channel = c;
      const id = `${REINIT}${++attempt}`;
      const answer = await new Promise<{ result: unknown } | null>((resolve) => {
        reinit = { id, answered: resolve };
        void c.exited.then(() => resolve(null));
        c.stdin.write(`${JSON.stringify({ ...init, id })}\n`);
      });
      reinit = null;
      if (answer) {
        if (!initAnswered) {
          initAnswered = true;
          write({ jsonrpc: '2.0', id: init.id, result: answer.result });
        }
        c.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
        ready = true;
        opts.log('berth connect: a new session is open');
        for (const line of pending.values()) c.stdin.write(`${line}\n`);
        for (const line of queue.splice(0)) send(line);
        return;
      }
      // Let go of it before stopping it, so its exit does not start a second loop beside this one.
      if (channel === c) channel = null;
      await c.stop();
      const wait = Math.min(10_000, (opts.retryMs ?? 500) * 2 ** Math.min(attempt, 5));
      await new Promise((r) => setTimeout(r, wait).unref());
    }
  };

  const send = (line: string): void => {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      write(errorResponse(null, PARSE_ERROR, 'Parse error: berth connect reads one JSON-RPC message per line'));
      return;
    }
    if (!isMessage(msg)) return;
    if (isRequest(msg) && msg.method === 'initialize') {
      init = msg;
      initAnswered = false;
      if (!channel) {
        channel = open();
        ready = true;
      }
    }
    if (!channel || !ready) {
      if (!init) {
        if (isRequest(msg)) write(errorResponse(msg.id, INVALID_REQUEST, 'initialize first'));
        return;
      }
      if (queue.length >= MAX_QUEUED) {
        if (isRequest(msg)) write(errorResponse(msg.id, UPSTREAM_UNAVAILABLE, 'Berth is unreachable and too many messages wait for it; retry later'));
        return;
      }
      queue.push(line);
      return;
    }
    if (isRequest(msg) && msg.method !== 'initialize') pending.set(idKey(msg.id), line);
    channel.stdin.write(`${line}\n`);
  };

  await new Promise<void>((resolve) => {
    const finish = (): void => {
      if (closing) return;
      closing = true;
      resolve();
    };
    readLines(opts.input, {
      maxLineBytes: MAX_LINE,
      onLine: (buf) => {
        const line = buf.toString('utf8').trim();
        if (line) send(line);
      },
      onOversize: () => write(errorResponse(null, INVALID_REQUEST, 'a message over 64 MiB was dropped')),
    });
    opts.input.on('end', finish);
    opts.input.on('error', finish);
    opts.signal?.addEventListener('abort', finish, { once: true });
  });
  // Assigned in callbacks: TypeScript cannot see it is not null here.
  await (channel as StreamableChannel | null)?.stop();
  await http.close();
}
