import type { ServerResponse } from 'node:http';
import { BerthError } from '../../core/errors.js';
import type { ResponseHead } from './h1-parser.js';
import { H1TimeoutError, type H1Exchange, type H1Request } from './h1-pool.js';

/** Response headers that belong to one hop (node sets its own framing for the client). */
const HOP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade', 'proxy-authenticate']);

/**
 * Writes one upstream response onto the client's response as it arrives: status and headers
 * (hop-by-hop ones dropped), then the body, with back-pressure both ways. If the client goes away
 * the upstream request is aborted; if the upstream fails after the head was sent, the client's
 * connection is cut (there is no way left to report it in band).
 */
export class ProxyExchange implements H1Exchange {
  request: H1Request | null = null;
  private headWritten = false;
  private bodyWritten = false;
  private eventStream = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly resolve: () => void,
    private readonly reject: (err: BerthError) => void,
  ) {
    res.on('close', () => {
      if (this.done) return;
      this.done = true;
      this.request?.abort();
      this.resolve();
    });
  }

  onHead(head: ResponseHead): void {
    if (this.done) return;
    const out: string[] = [];
    const h = head.headers;
    for (let i = 0; i < h.length; i += 2) {
      if (HOP_RESPONSE_HEADERS.has(h[i]!)) continue;
      if (h[i] === 'content-type' && h[i + 1]!.startsWith('text/event-stream')) this.eventStream = true;
      out.push(h[i]!, h[i + 1]!);
    }
    this.res.writeHead(head.status, out);
    this.headWritten = true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return true;
    this.bodyWritten = true;
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', () => this.request?.resume());
    return ok;
  }

  onBatchEnd(): void {
    // An event stream may stay quiet for a long time: the client must see the headers now.
    if (this.eventStream && this.headWritten && !this.bodyWritten && !this.done) {
      this.bodyWritten = true;
      this.res.flushHeaders();
    }
  }

  onEnd(): void {
    if (this.done) return;
    this.done = true;
    this.res.end();
    this.resolve();
  }

  onError(err: Error, beforeHead: boolean): void {
    if (this.done) return;
    this.done = true;
    if (!beforeHead || this.headWritten || this.res.headersSent) {
      this.res.destroy();
      this.resolve();
      return;
    }
    const timedOut = err instanceof H1TimeoutError;
    this.reject(new BerthError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', `Remote MCP server ${timedOut ? 'did not answer in time' : 'is unreachable'}: ${err.message}`));
  }
}
