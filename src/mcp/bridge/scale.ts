import type { BridgeEvents, ScaleOptions, ServerSnapshot } from '../types.js';
import type { ListRequest } from './snapshot.js';
import { changedLists, isServerSnapshot, learnLists, learnSnapshot } from './snapshot.js';

/** What the scale keeper needs from its shared bridge. */
export interface ScaleHost {
  /** Something holds the process: requests in flight, resource subscriptions, a swap. */
  busy(): boolean;
  /** The active process is up and answered its handshake. */
  running(): boolean;
  /** The bridge can still serve (has not given up, is not closing). */
  serving(): boolean;
  /** Stop the active process: it has been idle long enough. */
  sleep(): void;
  /** The active process's InitializeResult. */
  initResult(): Record<string, unknown> | null;
  /** A listing request to the active process. */
  request: ListRequest;
  /** Tell every session and listen stream that a listing changed. */
  announce(method: string): void;
  log(line: string): void;
}

/**
 * Scale to zero for a shared bridge: the snapshot of what the server said about itself (learned from the
 * live process, or given at construction), the idle clock that stops the process, and the idle/wake events.
 */
export class ScaleKeeper {
  snapshot: ServerSnapshot | null = null;
  /** No process runs, by Berth's choice (onIdle was raised, or the bridge started from a snapshot). */
  asleep = false;
  lastRequestAt: number | null = null;
  /** The last client request forwarded or finished: the idle clock runs from here. */
  private lastActive = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private refreshing = false;
  private again: string[] | null | undefined = undefined;
  private closed = false;

  constructor(
    private readonly scale: ScaleOptions | undefined,
    private readonly events: BridgeEvents | undefined,
    private readonly host: ScaleHost,
  ) {
    const snap = scale?.snapshot;
    if (snap && !isServerSnapshot(snap)) host.log('the stored server snapshot is malformed; ignoring it');
    else if (snap) this.snapshot = snap;
  }

  /** Scale to zero is on and a snapshot is known: start() starts nothing. */
  get startsAsleep(): boolean {
    return this.scale !== undefined && this.snapshot !== null;
  }

  /** A client request arrived (any kind, answered from the snapshot or not). */
  noteRequest(): void {
    this.lastRequestAt = Date.now();
  }

  /** A client request was forwarded or finished: the idle clock restarts. */
  noteActive(): void {
    this.lastActive = Date.now();
  }

  /** The snapshot, when requests are to be answered from it: scale to zero on and no process ready. */
  idleSnapshot(): ServerSnapshot | null {
    if (!this.scale || !this.snapshot || this.host.running() || !this.host.serving()) return null;
    return this.snapshot;
  }

  /** When the process will be stopped if nothing comes; null when nothing is due (off, asleep, busy). */
  idleAt(): number | null {
    if (!this.scale || this.closed || !this.host.running() || this.host.busy() || !this.host.serving()) return null;
    return this.lastActive + this.scale.idleMs;
  }

  /** (Re)start the idle clock's timer if a stop is due; called whenever the process may have become idle. */
  arm(): void {
    if (this.timer || this.idleAt() === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check();
    }, Math.max(0, (this.idleAt() ?? 0) - Date.now()));
    this.timer.unref();
  }

  private check(): void {
    const at = this.idleAt();
    if (at === null) return; // busy: armed again when it settles
    if (at > Date.now()) {
      this.arm();
      return;
    }
    this.host.log(`no request for ${this.scale?.idleMs} ms: stopping the MCP server (scale to zero)`);
    this.host.sleep();
  }

  /** The process stopped for idleness; `waking`: requests came meanwhile and a new one is starting. */
  slept(waking: boolean): void {
    this.asleep = true;
    this.events?.onIdle?.();
    if (waking) this.woke();
  }

  /** A process of this bridge is starting for a request; an idle bridge says so once (onWake). */
  woke(): void {
    if (!this.asleep) return;
    this.asleep = false;
    this.host.log('a request wakes the idle MCP server');
    this.events?.onWake?.();
  }

  /** A process came up without a request (a swap): not a wake. */
  awake(): void {
    this.asleep = false;
  }

  /** The active process is ready: learn its listings unless the snapshot is already this server's. */
  ready(): void {
    if (!this.scale) return;
    // A process that just started gets its full idleMs.
    this.noteActive();
    const init = this.host.initResult();
    if (!this.snapshot || JSON.stringify(this.snapshot.initialize) !== JSON.stringify(init)) this.refresh(null, true);
    this.arm();
  }

  /**
   * A new snapshot (from a swap, or a refresh): keep it, raise onSnapshot (when it changed, or `always`: a
   * new revision's), and announce the lists that changed.
   */
  learned(next: ServerSnapshot, announce: boolean, always = false): void {
    const prev = this.snapshot;
    this.snapshot = next;
    const changed = changedLists(prev, next);
    if (always || !prev || changed.length > 0 || JSON.stringify(prev.initialize) !== JSON.stringify(next.initialize)) this.events?.onSnapshot?.(next);
    if (announce && prev) for (const m of changed) this.host.announce(m);
  }

  /**
   * Ask the live process again: `lists` (methods) after its list_changed, or everything (null). One refresh
   * runs at a time; what is asked meanwhile is done once after it.
   */
  refresh(lists: string[] | null, announce: boolean): void {
    if (this.closed || !this.host.running()) return;
    if (this.refreshing) {
      this.again = this.again === null || lists === null ? null : [...new Set([...(this.again ?? []), ...lists])];
      return;
    }
    this.refreshing = true;
    void this.fetch(lists, announce).finally(() => {
      this.refreshing = false;
      const again = this.again;
      this.again = undefined;
      if (again !== undefined) this.refresh(again, announce);
    });
  }

  private async fetch(lists: string[] | null, announce: boolean): Promise<void> {
    const init = this.host.initResult();
    if (!init) return;
    try {
      if (lists === null || !this.snapshot) {
        this.learned(await learnSnapshot(init, this.host.request), announce);
        return;
      }
      const got = await learnLists(init, this.host.request, lists);
      // A listing that failed this time keeps what was known.
      for (const k of Object.keys(got) as (keyof typeof got)[]) if (got[k] === null) delete got[k];
      this.learned({ ...this.snapshot, ...got, initialize: init, at: Date.now() }, announce);
    } catch (err) {
      this.host.log(`could not refresh the server snapshot: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
