import type { Exchange } from '../front/exchange.js';
import type { JsonRpcNotification, JsonRpcRequest } from '../wire/jsonrpc.js';
import { resultResponse } from '../wire/jsonrpc.js';
import type { ListenStream } from '../front/stateless.js';
import type { Session } from '../front/transport.js';
import type { MrtrState } from '../front/mrtr.js';

/** What a shared-mode session keeps: the resource URIs it subscribed to, and the capabilities its client declared. */
export interface SharedSession {
  subs: Set<string> | null;
  caps: Record<string, unknown> | null;
  /** A stateless call's multi round-trip state (server requests become input_required). */
  mrtr: MrtrState | null;
}

type S = Session<SharedSession>;
/** A resource subscriber: a 2025 session or a 2026 listen stream. */
type Subscriber = S | ListenStream;
const isListen = (s: Subscriber): s is ListenStream => 'deliver' in s;

/** What the subscription book needs from its shared bridge. */
export interface SubscriptionHost {
  /** The server process is ready for requests. */
  ready(): boolean;
  /** Start the server if it is idle (a subscription needs it). */
  wake(): void;
  /** A request to the server, not tied to a client. */
  request(method: string, params: Record<string, unknown>): Promise<unknown>;
  sendToSession(session: S, json: string): void;
  /** The last subscription is gone (the server may now go idle). */
  none(): void;
  log(line: string): void;
}

/**
 * Shared mode's resource subscriptions: sessions and listen streams subscribe to uris; the server is asked
 * once per uri (subscribe for the first subscriber, unsubscribe after the last), and its
 * `resources/updated` goes to that uri's subscribers only.
 */
export class Subscriptions {
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  /** Open 2026-07-28 listen streams (they also get list_changed and log messages). */
  readonly listeners = new Set<ListenStream>();

  constructor(private readonly host: SubscriptionHost) {}

  get size(): number {
    return this.subscribers.size;
  }

  uris(): string[] {
    return [...this.subscribers.keys()];
  }

  /** A session's subscribe/unsubscribe: true when answered here, false when it must go to the server. */
  local(session: S, req: JsonRpcRequest, exchange: Exchange, uri: string): boolean {
    const mine = (session.data.subs ??= new Set());
    let set = this.subscribers.get(uri);
    if (req.method === 'resources/subscribe') {
      if (mine.has(uri) || (set && set.size > 0)) {
        mine.add(uri);
        set?.add(session);
        exchange.respond(resultResponse(req.id, {}));
        return true;
      }
      mine.add(uri);
      set = new Set<Subscriber>([session]);
      this.subscribers.set(uri, set);
      return false;
    }
    if (!mine.has(uri)) {
      exchange.respond(resultResponse(req.id, {}));
      return true;
    }
    mine.delete(uri);
    set?.delete(session);
    if (set && set.size > 0) {
      exchange.respond(resultResponse(req.id, {}));
      return true;
    }
    this.subscribers.delete(uri);
    this.emptied();
    return false;
  }

  sessionEnded(session: S): void {
    const subs = session.data.subs;
    session.data.subs = null;
    if (subs) for (const uri of subs) this.drop(session, uri);
  }

  /** Resolves once the upstream subscriptions the stream asked for are in place, so the ack comes after them. */
  async listen(stream: ListenStream): Promise<void> {
    this.listeners.add(stream);
    const setup: Promise<unknown>[] = [];
    for (const uri of stream.filter.resourceSubscriptions ?? []) {
      let set = this.subscribers.get(uri);
      const first = !set || set.size === 0;
      if (!set) this.subscribers.set(uri, (set = new Set()));
      set.add(stream);
      // A subscription needs the server: an idle one wakes (and subscribes once ready: `resubscribe`).
      if (first && !this.host.ready()) this.host.wake();
      if (first && this.host.ready()) {
        setup.push(this.host.request('resources/subscribe', { uri }).catch((err: Error) => this.host.log(`subscribe ${uri} failed: ${err.message}`)));
      }
    }
    await Promise.all(setup);
  }

  unlisten(stream: ListenStream): void {
    this.listeners.delete(stream);
    for (const uri of stream.filter.resourceSubscriptions ?? []) this.drop(stream, uri);
  }

  /** A (new) server process is ready: it gets every subscription held. */
  resubscribe(request: (method: string, params: Record<string, unknown>) => Promise<unknown>, what = 're-subscribe'): Promise<unknown> {
    return Promise.all(this.uris().map((uri) => request('resources/subscribe', { uri }).catch((err: Error) => this.host.log(`${what} ${uri} failed: ${err.message}`))));
  }

  /** The server's `resources/updated`: to the uri's subscribers. */
  updated(m: JsonRpcNotification): void {
    const uri = m.params?.uri;
    const subs = typeof uri === 'string' ? this.subscribers.get(uri) : undefined;
    if (!subs) return;
    const json = JSON.stringify(m);
    for (const s of subs) {
      if (isListen(s)) s.deliver(m.method, m.params);
      else this.host.sendToSession(s, json);
    }
  }

  private drop(sub: Subscriber, uri: string): void {
    const set = this.subscribers.get(uri);
    if (!set) return;
    set.delete(sub);
    if (set.size > 0) return;
    this.subscribers.delete(uri);
    if (this.host.ready()) this.host.request('resources/unsubscribe', { uri }).catch(() => {});
    this.emptied();
  }

  private emptied(): void {
    if (this.subscribers.size === 0) this.host.none();
  }
}
