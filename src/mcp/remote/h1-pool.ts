import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ResponseParser, UpstreamProtocolError, type ParserSink, type ResponseHead } from './h1-parser.js';

/**
 * A lean HTTP/1.1 keep-alive client for the url proxy: one request per connection at a time, the request
 * head serialised by the caller and written with the body in one syscall, the response parsed by
 * ResponseParser and its body handed on as slices of the socket's buffers. It does only what the proxy
 * needs, and allocates little per request (one object; the parser belongs to the connection).
 */

export interface H1PoolOptions {
  /** Most connections open at once; further requests wait in order. */
  maxConnections: number;
  /** Idle connections are closed after this long (shortened to the upstream's `Keep-Alive: timeout` hint). */
  idleMs: number;
  /** A request whose response head has not arrived after this long fails with `H1TimeoutError`. */
  headersTimeoutMs: number;
}

/** What a caller does with one response. Called in order: onHead, onData*, then onEnd or onError. */
export interface H1Exchange {
  onHead(head: ResponseHead): void;
  /** Returns false to pause the upstream until `resume()` is called on the request. */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  /** `beforeHead`: nothing of the response was delivered yet. */
  onError(err: Error, beforeHead: boolean): void;
  /** After each batch of bytes from the socket has been handed over (a good moment to flush). */
  onBatchEnd?(): void;
}

export class H1TimeoutError extends Error {}

/** A request in flight. */
export interface H1Request {
  /** Resume a paused upstream (see H1Exchange.onData). */
  resume(): void;
  /** Give up: the connection is closed, no more callbacks. */
  abort(): void;
}

class Pending implements H1Request {
  conn: Conn | null = null;
  gotHead = false;
  finished = false;
  retried = false;

  constructor(
    readonly pool: H1Pool,
    readonly head: string,
    readonly body: Buffer | null,
    readonly noBody: boolean,
    readonly exchange: H1Exchange,
    readonly deadline: number,
  ) {}

  resume(): void {
    if (!this.finished) this.conn?.socket.resume();
  }

  abort(): void {
    if (!this.finished) this.pool.abort(this);
  }
}

/** One upstream connection; it is also the sink of its parser, for whichever request it carries. */
class Conn implements ParserSink {
  current: Pending | null = null;
  readonly parser: ResponseParser = new ResponseParser(this);
  /** Bytes of the current response seen (a failure with none on a reused connection may be retried). */
  received = false;
  used = 0;
  gone = false;
  idleSince = 0;

  constructor(
    readonly pool: H1Pool,
    readonly socket: Socket,
    public idleMs: number,
  ) {}

  onHead(head: ResponseHead): void {
    const p = this.current!;
    p.gotHead = true;
    if (head.keepAliveS !== undefined) this.idleMs = Math.min(this.idleMs, Math.max(0, head.keepAliveS * 1000 - 1000));
    p.exchange.onHead(head);
  }

  onData(chunk: Buffer): void {
    if (!this.current!.exchange.onData(chunk)) this.socket.pause();
  }

  onEnd(reusable: boolean): void {
    this.pool.complete(this, this.current!, reusable);
  }
}

export class H1Pool {
  private readonly idle: Conn[] = [];
  private readonly waiting: Pending[] = [];
  private readonly inFlight = new Set<Pending>();
  private open = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly secure: boolean;
  private readonly host: string;
  private readonly port: number;

  constructor(
    origin: URL,
    private readonly opts: H1PoolOptions,
  ) {
    this.secure = origin.protocol === 'https:';
    this.host = origin.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(origin.port) || (this.secure ? 443 : 80);
  }

  /**
   * Sends a request. `head` is the complete request head (request line, headers, blank line) in latin1;
   * `noBody` is true for HEAD requests.
   */
  request(head: string, body: Buffer | null, exchange: H1Exchange, noBody = false): H1Request {
    const p = new Pending(this, head, body, noBody, exchange, Date.now() + this.opts.headersTimeoutMs);
    if (this.closed) {
      p.finished = true;
      exchange.onError(new Error('upstream pool is closed'), true);
      return p;
    }
    this.inFlight.add(p);
    this.ensureSweeper();
    this.dispatch(p);
    return p;
  }

  /** Connections open (busy and idle). */
  get connections(): number {
    return this.open;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const p of [...this.inFlight]) this.fail(p, new Error('upstream pool closed'));
    for (const c of this.idle.splice(0)) this.discard(c);
  }

  /** @internal A caller gave up on `p`. */
  abort(p: Pending): void {
    p.finished = true;
    this.inFlight.delete(p);
    const i = this.waiting.indexOf(p);
    if (i >= 0) this.waiting.splice(i, 1);
    if (p.conn && p.conn.current === p) this.discard(p.conn);
  }

  /** @internal The response on `c` is complete. */
  complete(c: Conn, p: Pending, reusable: boolean): void {
    p.finished = true;
    this.inFlight.delete(p);
    c.current = null;
    p.exchange.onEnd();
    if (!reusable || this.closed || c.socket.destroyed || c.gone) return this.discard(c);
    c.socket.resume();
    const next = this.waiting.shift();
    if (next) return this.send(c, next);
    c.idleSince = Date.now();
    this.idle.push(c);
  }

  private dispatch(p: Pending): void {
    const now = Date.now();
    for (;;) {
      const c = this.idle.pop();
      if (!c) break;
      if (c.socket.destroyed || now - c.idleSince >= c.idleMs) {
        this.discard(c);
        continue;
      }
      return this.send(c, p);
    }
    if (this.open < this.opts.maxConnections) return this.send(this.connect(), p);
    this.waiting.push(p);
  }

  private connect(): Conn {
    const socket = this.secure
      ? tlsConnect({ host: this.host, port: this.port, servername: this.host, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    const c = new Conn(this, socket, this.opts.idleMs);
    this.open++;
    socket.on('data', (buf: Buffer) => this.onData(c, buf));
    socket.on('end', () => this.onClose(c, null));
    socket.on('error', (err) => this.onClose(c, err));
    socket.on('close', () => this.onClose(c, null));
    return c;
  }

  private send(c: Conn, p: Pending): void {
    c.current = p;
    c.received = false;
    c.used++;
    p.conn = c;
    c.parser.reset(p.noBody);
    const s = c.socket;
    s.cork();
    s.write(p.head, 'latin1');
    if (p.body && p.body.length > 0) s.write(p.body);
    s.uncork();
  }

  private onData(c: Conn, buf: Buffer): void {
    const p = c.current;
    if (!p) {
      // Bytes on an idle connection: the upstream is confused; drop the connection.
      this.discard(c);
      return;
    }
    c.received = true;
    try {
      c.parser.feed(buf);
    } catch (err) {
      if (!(err instanceof UpstreamProtocolError)) throw err;
      // Fails the request the connection carries now (a later one, if the bad bytes trailed a complete response).
      this.discard(c, err);
    }
    p.exchange.onBatchEnd?.();
  }

  private onClose(c: Conn, err: Error | null): void {
    if (c.gone) return;
    const p = c.current;
    c.current = null;
    this.forget(c);
    c.socket.destroy();
    if (!p || p.finished) return;
    if (c.parser.readsUntilClose) {
      c.current = p;
      c.parser.end();
      return;
    }
    // A reused keep-alive connection the upstream had already closed: the request never reached it; try once more.
    if (!c.received && c.used > 1 && !p.retried) {
      p.retried = true;
      p.conn = null;
      this.dispatch(p);
      return;
    }
    this.fail(p, err ?? new Error(c.received ? 'upstream closed the connection mid-response' : 'upstream closed the connection'));
  }

  private fail(p: Pending, err: Error): void {
    if (p.finished) return;
    this.abort(p);
    p.exchange.onError(err, !p.gotHead);
  }

  /** Closes a connection; the request it carries (if any) fails with `err`. */
  private discard(c: Conn, err: Error = new Error('upstream connection dropped')): void {
    const p = c.current;
    c.current = null;
    this.forget(c);
    c.socket.destroy();
    if (p && !p.finished) this.fail(p, err);
  }

  /** Drops a connection from the books once; lets a waiting request have its slot. */
  private forget(c: Conn): void {
    if (c.gone) return;
    c.gone = true;
    this.open--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.waiting.shift();
    if (next && !this.closed) this.dispatch(next);
  }

  /** One timer per pool checks header deadlines and idle connections (cheaper than a timer per request). */
  private ensureSweeper(): void {
    if (this.sweeper) return;
    const every = Math.max(20, Math.min(1000, Math.floor(this.opts.headersTimeoutMs / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const p of this.inFlight) {
      if (!p.gotHead && now >= p.deadline) this.fail(p, new H1TimeoutError(`no response head within ${this.opts.headersTimeoutMs} ms`));
    }
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (now - c.idleSince >= c.idleMs) this.discard(c);
    }
    if (this.inFlight.size === 0 && this.idle.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
