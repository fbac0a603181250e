/**
 * One client session of a group, seen as a stdio server: the bridge in front of it gives the group every client
 * revision (2025 sessions, stateless 2026-07-28, legacy SSE) as for a single server. The channel answers initialize
 * itself, merges its members' lists under collision-free names (core/group.ts), and sends each call to exactly the
 * member that owns the name, over that member's own session (MemberLink); ids are rewritten both ways, progress,
 * cancellation, list_changed and the members' requests to the client (sampling, elicitation, roots) flow through.
 */
import { exposedName, memberPrefix, type GroupMember } from '../../core/group.js';
import type { StdioProcess } from '../../core/process.js';
import { settleWithin } from '../../core/timeout.js';
import { RemoteChannel } from '../remote/channel.js';
import { SUPPORTED_PROTOCOL_VERSIONS, LATEST_PROTOCOL_VERSION } from '../wire/http.js';
import { errorResponse, idKey, INVALID_PARAMS, isObject, isNotification, isRequest, isResponse, METHOD_NOT_FOUND, UPSTREAM_UNAVAILABLE, type JsonRpcId, type JsonRpcMessage, type JsonRpcRequest } from '../wire/jsonrpc.js';
import { MemberError, MemberLink } from './member-link.js';
import { ToolIndex, type SearchableTool, type ToolHit } from './search.js';

export interface GroupMemberView {
  deploymentId: string;
  /** The deployment's name: the default prefix. */
  name: string;
  member: GroupMember;
}

export interface GroupView {
  name: string;
  separator: string;
  failureMode: 'open' | 'closed';
  /** `only`: tools/list shows search_tools and call_tool instead of the tools; `also`: besides them; `off`: neither. */
  toolSearch?: 'off' | 'only' | 'also';
  members: GroupMemberView[];
}

export interface GroupChannelOptions {
  key: string;
  /** The group as it is now (read at every listing: an update applies to open sessions). */
  view(): GroupView;
  /** A new MCP session with a member deployment (a channel through Berth's gateway). */
  openMember(deploymentId: string, key: string): StdioProcess;
  /** Longest wait for a member's list (default 10 s); a member slower than that is left out (failure mode open). */
  listTimeoutMs?: number;
  version?: string;
  log?: (line: string) => void;
  /** A member could not be listed (reason), or could again (null): the group's status shows it. */
  onMemberState?(deploymentId: string, trouble: string | null): void;
  /** How search_tools ranks (default: BM25 alone; Berth passes BM25 fused with embeddings when configured). */
  search?<T extends SearchableTool>(query: string, tools: readonly T[], k: number, index: ToolIndex<T>): Promise<ToolHit<T>[]>;
}

type Kind = 'tools' | 'prompts' | 'resources' | 'resourceTemplates';

const LIST: Record<Kind, { method: string; field: string }> = {
  tools: { method: 'tools/list', field: 'tools' },
  prompts: { method: 'prompts/list', field: 'prompts' },
  resources: { method: 'resources/list', field: 'resources' },
  resourceTemplates: { method: 'resources/templates/list', field: 'resourceTemplates' },
};

/** Most pages of one list a member may return to a group (a member that pages forever is cut off). */
const MAX_PAGES = 100;
/** Most requests of the members (sampling, elicitation, roots) waiting for the client's answer in one session. */
const MAX_TO_CLIENT = 1000;
/**
 * How long search_tools ranks over the tools it listed before it lists the members again, unless a member's
 * tools/list_changed, a group change or a member session's end comes first (a member that does not announce changes).
 */
const SEARCH_LIST_MS = 60_000;

export class GroupChannel extends RemoteChannel {
  private clientInit: Record<string, unknown> = {};
  private readonly links = new Map<string, MemberLink>();
  /** Exposed tool / prompt name → which member and its own name (from the last listing). */
  private readonly tools = new Map<string, { deploymentId: string; name: string }>();
  private readonly prompts = new Map<string, { deploymentId: string; name: string }>();
  /** Resource URI (and URI template) → member, from the last listings. */
  private readonly resources = new Map<string, string>();
  private readonly templates = new Map<string, string>();
  /** Client request id → where it went (for cancellation). */
  private readonly inFlight = new Map<string | number, { deploymentId: string; id: number }>();
  /** Our id of a member's request to the client → the member and its id. */
  private readonly toClient = new Map<string | number, { deploymentId: string; id: JsonRpcId; ours: string }>();
  private nextClientId = 1;
  /** What search_tools ranks over, with its index: the last complete listing of the group's tools. */
  private searchable: { tools: SearchableTool[]; index: ToolIndex<SearchableTool>; at: number } | null = null;

  constructor(private readonly opts: GroupChannelOptions) {
    super(opts.key, opts.log);
  }

  protected receive(msg: JsonRpcMessage): void {
    if (isRequest(msg)) {
      void this.onRequest(msg).catch((err: unknown) => this.emit(errorResponse(msg.id, UPSTREAM_UNAVAILABLE, err instanceof Error ? err.message : String(err))));
      return;
    }
    if (isResponse(msg)) {
      // The client's answer to a member's request.
      if (msg.id === null) return;
      const to = this.toClient.get(idKey(msg.id));
      if (!to) return;
      this.toClient.delete(idKey(msg.id));
      this.links.get(to.deploymentId)?.respond({ ...msg, id: to.id });
      return;
    }
    if (!isNotification(msg)) return;
    if (msg.method === 'notifications/cancelled') {
      const rid = msg.params?.requestId;
      const where = typeof rid === 'string' || typeof rid === 'number' ? this.inFlight.get(idKey(rid)) : undefined;
      if (where) this.links.get(where.deploymentId)?.notify('notifications/cancelled', { ...msg.params, requestId: where.id });
      return;
    }
    // roots/list_changed and the like concern every member that has a session.
    if (msg.method !== 'notifications/initialized') for (const link of this.links.values()) link.notify(msg.method, msg.params);
  }

  /** The group's members or their options changed: the client lists again. */
  groupChanged(): void {
    this.searchable = null;
    for (const kind of ['tools', 'prompts', 'resources']) this.emit({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
  }

  protected teardown(): void {
    for (const link of this.links.values()) link.close('the group session ended');
    this.links.clear();
  }

  private async onRequest(req: JsonRpcRequest): Promise<void> {
    const p = req.params ?? {};
    switch (req.method) {
      case 'initialize':
        return this.initialize(req);
      case 'ping':
        return this.emit({ jsonrpc: '2.0', id: req.id, result: {} });
      case 'tools/list':
      case 'prompts/list':
      case 'resources/list':
      case 'resources/templates/list': {
        const kind = (Object.keys(LIST) as Kind[]).find((k) => LIST[k].method === req.method)!;
        const search = kind === 'tools' ? (this.opts.view().toolSearch ?? 'off') : 'off';
        if (search === 'only') return this.emit({ jsonrpc: '2.0', id: req.id, result: { tools: META_TOOLS } });
        const listed = await this.list(kind);
        if (listed instanceof MemberError) return this.emit(errorResponse(req.id, listed.code, listed.message, listed.data));
        return this.emit({ jsonrpc: '2.0', id: req.id, result: { [LIST[kind].field]: search === 'also' ? [...listed.items, ...META_TOOLS] : listed.items } });
      }
      case 'tools/call': {
        const search = this.opts.view().toolSearch ?? 'off';
        if (search !== 'off' && p.name === SEARCH_TOOL) return this.searchTools(req);
        if (search !== 'off' && p.name === CALL_TOOL) {
          const args = (p.arguments ?? {}) as Record<string, unknown>;
          if (typeof args.name !== 'string') return this.emit({ jsonrpc: '2.0', id: req.id, result: toolError('call_tool needs "name": a tool name from search_tools') });
          return this.routeByName({ ...req, params: { ...p, name: args.name, arguments: isObject(args.arguments) ? args.arguments : {} } }, this.tools, 'tools', 'tool');
        }
        return this.routeByName(req, this.tools, 'tools', 'tool');
      }
      case 'prompts/get':
        return this.routeByName(req, this.prompts, 'prompts', 'prompt');
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        return this.routeByUri(req, typeof p.uri === 'string' ? p.uri : undefined);
      case 'completion/complete': {
        const ref = (p.ref ?? {}) as { type?: string; name?: string; uri?: string };
        if (ref.type === 'ref/prompt') return this.routeByName(req, this.prompts, 'prompts', 'prompt', (params, own) => ({ ...params, ref: { ...ref, name: own } }), ref.name);
        return this.routeByUri(req, ref.uri);
      }
      case 'logging/setLevel':
        for (const link of this.links.values()) void link.request('logging/setLevel', p).catch(() => {});
        return this.emit({ jsonrpc: '2.0', id: req.id, result: {} });
      default:
        return this.emit(errorResponse(req.id, METHOD_NOT_FOUND, `Method not found: ${req.method} (a group serves tools, prompts, resources and completions)`));
    }
  }

  private initialize(req: JsonRpcRequest): void {
    this.clientInit = req.params ?? {};
    const asked = this.clientInit.protocolVersion;
    const protocolVersion = typeof asked === 'string' && (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(asked) ? asked : LATEST_PROTOCOL_VERSION;
    const v = this.opts.view();
    this.emit({
      jsonrpc: '2.0',
      id: req.id,
      result: {
        protocolVersion,
        capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true, subscribe: true }, completions: {}, logging: {} },
        serverInfo: { name: `berth-group-${v.name}`, version: this.opts.version ?? '0' },
        instructions: `A Berth group of ${v.members.length} servers (${v.members.map((m) => m.name).join(', ')}); each name starts with its server's prefix.`,
      },
    });
  }

  /** The member link, opened (and initialized) on first use. */
  private async link(deploymentId: string): Promise<MemberLink> {
    let link = this.links.get(deploymentId);
    if (!link || !link.open) {
      const made: MemberLink = new MemberLink({
        proc: this.opts.openMember(deploymentId, `${this.key}/${deploymentId}`),
        clientInit: this.clientInit,
        onMessage: (m) => this.fromMember(deploymentId, m),
        onClose: () => {
          this.searchable = null;
          if (this.links.get(deploymentId) === made) this.links.delete(deploymentId);
        },
      });
      link = made;
      this.links.set(deploymentId, link);
    }
    try {
      await link.ready;
    } catch (err) {
      // A member that refused (stopped, failing) is tried afresh next time, not remembered as refused.
      link.close(`initialize failed: ${err instanceof Error ? err.message : String(err)}`);
      throw err;
    }
    return link;
  }

  /**
   * Every member's items of `kind`, renamed; a member that fails is left out (open: `leftOut` says so) or fails the
   * listing (closed).
   */
  private async list(kind: Kind): Promise<{ items: unknown[]; leftOut: boolean } | MemberError> {
    const v = this.opts.view();
    const timeout = this.opts.listTimeoutMs ?? 10_000;
    const results = await Promise.all(
      v.members.map(async (m) => {
        try {
          const items = await this.listMember(m.deploymentId, kind, timeout);
          this.opts.onMemberState?.(m.deploymentId, null);
          return { m, items };
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.opts.onMemberState?.(m.deploymentId, why);
          return { m, error: why };
        }
      }),
    );
    const failed = results.filter((r) => 'error' in r);
    if (failed.length > 0 && v.failureMode === 'closed') {
      return new MemberError(UPSTREAM_UNAVAILABLE, `group ${v.name}: ${failed.map((f) => `${f.m.name}: ${f.error}`).join('; ')} (failure_mode closed)`, { code: 'UPSTREAM_UNAVAILABLE', members: failed.map((f) => f.m.name) });
    }
    for (const f of failed) this.log(`group ${v.name}: ${f.m.name} left out of ${LIST[kind].method}: ${f.error}`);
    return { items: this.merge(v, kind, results.filter((r): r is { m: GroupMemberView; items: unknown[] } => 'items' in r)), leftOut: failed.length > 0 };
  }

  private merge(v: GroupView, kind: Kind, lists: { m: GroupMemberView; items: unknown[] }[]): unknown[] {
    const out: unknown[] = [];
    if (kind === 'tools' || kind === 'prompts') {
      const table = kind === 'tools' ? this.tools : this.prompts;
      table.clear();
      for (const { m, items } of lists) {
        for (const item of items as { name?: unknown; description?: unknown }[]) {
          if (typeof item?.name !== 'string') continue;
          // Allow, deny and renames are about tools; prompts get the member's prefix.
          const shown = kind === 'tools' ? exposedName(m.member, m.name, v.separator, item.name) : exposedName({ ...m.member, allow: undefined, deny: [], rename: {} }, m.name, v.separator, item.name);
          if (shown === null) continue;
          const taken = table.get(shown);
          if (taken) {
            this.log(`group ${v.name}: ${kind === 'tools' ? 'tool' : 'prompt'} ${item.name} of ${m.name} is hidden: ${shown} is ${taken.deploymentId}'s`);
            continue;
          }
          table.set(shown, { deploymentId: m.deploymentId, name: item.name });
          const description = kind === 'tools' ? (m.member.descriptions[item.name] ?? item.description) : item.description;
          out.push({ ...item, name: shown, ...(description === undefined ? {} : { description }) });
        }
      }
      return out;
    }
    if (kind === 'resources') this.resources.clear();
    if (kind === 'resourceTemplates') this.templates.clear();
    for (const { m, items } of lists) {
      for (const item of items as { uri?: unknown; uriTemplate?: unknown; name?: unknown }[]) {
        const uri = typeof item?.uri === 'string' ? item.uri : typeof item?.uriTemplate === 'string' ? item.uriTemplate : undefined;
        if (uri === undefined) continue;
        const owners = kind === 'resources' ? this.resources : this.templates;
        if (owners.has(uri)) continue; // the first member that lists a URI (or template) owns it
        owners.set(uri, m.deploymentId);
        // URIs stay as they are (clients and servers hold them); the name tells the member.
        const name = typeof item.name === 'string' ? `${memberPrefix(m.member, m.name) || m.name}${v.separator}${item.name}` : item.name;
        out.push({ ...item, ...(name === undefined ? {} : { name }) });
      }
    }
    return out;
  }

  private async listMember(deploymentId: string, kind: Kind, timeoutMs: number): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    const link = await settleWithin(this.link(deploymentId), timeoutMs, () => new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`));
    const caps = ((await link.ready).capabilities ?? {}) as Record<string, unknown>;
    if (!caps[kind === 'resourceTemplates' ? 'resources' : kind]) return [];
    const items: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = (await link.request(LIST[kind].method, cursor === undefined ? {} : { cursor }, Math.max(1, deadline - Date.now()))) as Record<string, unknown>;
      const got = r[LIST[kind].field];
      if (Array.isArray(got)) items.push(...got);
      cursor = typeof r.nextCursor === 'string' ? r.nextCursor : undefined;
      if (cursor === undefined) break;
    }
    return items;
  }

  /** search_tools: the best `k` of the group's tools for `query` (BM25), with their schemas, as JSON. */
  private async searchTools(req: JsonRpcRequest): Promise<void> {
    const args = ((req.params ?? {}).arguments ?? {}) as Record<string, unknown>;
    const query = typeof args.query === 'string' ? args.query : '';
    if (query.trim() === '') return this.emit({ jsonrpc: '2.0', id: req.id, result: toolError('search_tools needs "query": what the tool should do') });
    const k = typeof args.k === 'number' && Number.isInteger(args.k) ? Math.min(50, Math.max(1, args.k)) : 5;
    const ready = await this.searchableTools();
    if (ready instanceof MemberError) return this.emit(errorResponse(req.id, ready.code, ready.message, ready.data));
    const ranked = this.opts.search ? await this.opts.search(query, ready.tools, k, ready.index) : ready.index.search(query, k);
    const hits = ranked.map((h) => ({ ...(h.tool as object), score: Math.round(h.score * 10000) / 10000 }));
    const text = hits.length > 0 ? JSON.stringify(hits, null, 2) : `No tool of group ${this.opts.view().name} matches ${JSON.stringify(query)}; try other words.`;
    this.emit({ jsonrpc: '2.0', id: req.id, result: { content: [{ type: 'text', text }], structuredContent: { tools: hits } } });
  }

  /** The group's tools for search_tools: listed once, then kept (SEARCH_LIST_MS) unless something says they changed. */
  private async searchableTools(): Promise<{ tools: SearchableTool[]; index: ToolIndex<SearchableTool> } | MemberError> {
    const kept = this.searchable;
    if (kept && Date.now() - kept.at < SEARCH_LIST_MS) return kept;
    const listed = await this.list('tools');
    if (listed instanceof MemberError) return listed;
    const tools = listed.items as SearchableTool[];
    const made = { tools, index: new ToolIndex(tools), at: Date.now() };
    // A listing that left a member out is not kept: the next search asks again.
    this.searchable = listed.leftOut ? null : made;
    return made;
  }

  /** A tools/call or prompts/get (or a prompt's completion) to the member that owns the name. */
  private async routeByName(
    req: JsonRpcRequest,
    table: Map<string, { deploymentId: string; name: string }>,
    kind: 'tools' | 'prompts',
    what: string,
    rewrite: (params: Record<string, unknown>, own: string) => Record<string, unknown> = (params, own) => ({ ...params, name: own }),
    given: unknown = req.params?.name,
  ): Promise<void> {
    if (typeof given !== 'string') return this.emit(errorResponse(req.id, INVALID_PARAMS, `${what} name missing`));
    // A client may call without listing first (or after an update): learn the names once.
    if (!table.has(given)) {
      const listed = await this.list(kind);
      if (listed instanceof MemberError) return this.emit(errorResponse(req.id, listed.code, listed.message, listed.data));
    }
    const owner = table.get(given);
    if (!owner) return this.emit(errorResponse(req.id, INVALID_PARAMS, `Unknown ${what}: ${given} (not in group ${this.opts.view().name})`));
    await this.forwardTo(owner.deploymentId, { ...req, params: rewrite(req.params ?? {}, owner.name) });
  }

  private async routeByUri(req: JsonRpcRequest, uri: string | undefined): Promise<void> {
    if (uri === undefined) return this.emit(errorResponse(req.id, INVALID_PARAMS, 'uri missing'));
    if (!this.resources.has(uri)) await this.list('resources');
    let owner = this.resources.get(uri);
    if (owner === undefined) {
      // A URI made from a template: the member whose template's fixed start matches most of it (never a guess).
      if (this.templates.size === 0) await this.list('resourceTemplates');
      let best = -1;
      for (const [template, member] of this.templates) {
        const fixed = template.split('{')[0]!;
        if (fixed.length > best && uri.startsWith(fixed)) [best, owner] = [fixed.length, member];
      }
    }
    if (owner === undefined) return this.emit(errorResponse(req.id, INVALID_PARAMS, `Unknown resource: ${uri} (no member of group ${this.opts.view().name} lists it or a template for it)`));
    await this.forwardTo(owner, req);
  }

  private async forwardTo(deploymentId: string, req: JsonRpcRequest): Promise<void> {
    let link: MemberLink;
    try {
      link = await this.link(deploymentId);
    } catch (err) {
      return this.emit(errorResponse(req.id, UPSTREAM_UNAVAILABLE, `member ${deploymentId} is unavailable: ${err instanceof Error ? err.message : String(err)}`));
    }
    const key = idKey(req.id);
    const { id } = link.forward(req, (answer) => {
      this.inFlight.delete(key);
      this.emit({ ...answer, id: req.id });
    });
    this.inFlight.set(key, { deploymentId, id });
  }

  /** A member's message outside answers: requests go to the client under ids of ours; notifications as they are. */
  private fromMember(deploymentId: string, msg: JsonRpcMessage): void {
    if (isRequest(msg)) {
      if (msg.method === 'ping') return this.links.get(deploymentId)?.respond({ jsonrpc: '2.0', id: msg.id, result: {} });
      if (this.toClient.size >= MAX_TO_CLIENT) {
        return this.links.get(deploymentId)?.respond(errorResponse(msg.id, UPSTREAM_UNAVAILABLE, `the client has ${MAX_TO_CLIENT} requests of this group's members to answer already; try again once it has answered some`));
      }
      const ours = `g${this.nextClientId++}`;
      this.toClient.set(idKey(ours), { deploymentId, id: msg.id, ours });
      return this.emit({ ...msg, id: ours });
    }
    if (!isNotification(msg)) return;
    if (msg.method === 'notifications/tools/list_changed') this.searchable = null;
    if (msg.method === 'notifications/cancelled') {
      const rid = msg.params?.requestId;
      const ours = [...this.toClient.values()].find((t) => t.deploymentId === deploymentId && (typeof rid === 'string' || typeof rid === 'number') && idKey(t.id) === idKey(rid))?.ours;
      if (ours !== undefined) this.emit({ ...msg, params: { ...msg.params, requestId: ours } });
      return;
    }
    this.emit(msg);
  }
}

const SEARCH_TOOL = 'search_tools';
const CALL_TOOL = 'call_tool';

/** The meta-tools of a group with tool search. */
const META_TOOLS = [
  {
    name: SEARCH_TOOL,
    description: "Find this group's tools for a task: give what you want to do in a few words; returns the best matching tools with their names, descriptions and input schemas. Then run one with call_tool.",
    inputSchema: { type: 'object', properties: { query: { type: 'string', description: 'what the tool should do, e.g. "read a file"' }, k: { type: 'integer', minimum: 1, maximum: 50, description: 'how many tools (default 5)' } }, required: ['query'] },
  },
  {
    name: CALL_TOOL,
    description: 'Run a tool found with search_tools: its exact name and its arguments (as its input schema says).',
    inputSchema: { type: 'object', properties: { name: { type: 'string', description: 'the tool name search_tools returned' }, arguments: { type: 'object', description: "the tool's arguments" } }, required: ['name'] },
  },
];

/** A tool result that reports a mistake of the caller (MCP: isError, so the model sees it and can correct). */
function toolError(text: string): Record<string, unknown> {
  return { content: [{ type: 'text', text }], isError: true };
}

