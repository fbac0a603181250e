/**
 * Groups (issue 13): their definitions (GroupService: create, read, update, remove, with the members checked) and
 * their endpoints (GroupHub: one bridge per group whose sessions are GroupChannels). A group session reaches its
 * members through Berth's own gateway, on loopback, with a relay credential made for that group and that client
 * (group-relay.ts): it may invoke exactly the group's members, so each member's own checks, wake-up, rate limits
 * and request counts apply, to each group client on its own.
 */
import { BerthError, checkGroupName, CreateGroupSchema, memberPrefix, parseOrThrow, UpdateGroupSchema, type Deployment, type Group, type GroupDetails } from '../core/index.js';
import type { GroupRelay } from './group-relay.js';
import type { GroupChannel, GroupView } from '../mcp/group/channel.js';
import type { BridgeTiming, ClientIdentity, IsolatedBridge, RestartPolicy, SessionLimits } from '../mcp/types.js';
import type { GroupStore } from '../store/types.js';
import type { ToolEmbeddings } from './tool-embeddings.js';

export interface GroupServiceDeps {
  store: GroupStore;
  /** A live deployment by id or name (DEPLOYMENT_NOT_FOUND otherwise). */
  findDeployment(ref: string): Promise<Deployment>;
  /** Told when a group changed or went (its endpoint follows). */
  onChange?(name: string): void;
}

export class GroupService {
  constructor(private readonly deps: GroupServiceDeps) {}

  async list(): Promise<GroupDetails[]> {
    return Promise.all((await this.deps.store.listGroups()).map((g) => this.details(g)));
  }

  async get(name: string): Promise<GroupDetails> {
    return this.details(await this.find(name));
  }

  async find(name: string): Promise<Group> {
    const g = await this.deps.store.getGroup(checkGroupName(name));
    if (!g) throw new BerthError('GROUP_NOT_FOUND', `No group named ${JSON.stringify(name)}`, { name });
    return g;
  }

  async create(input: unknown): Promise<GroupDetails> {
    const req = parseOrThrow(CreateGroupSchema, input);
    const spec = await this.resolveMembers(req.spec);
    const made = await this.deps.store.createGroup({ name: req.name, description: req.description, access: req.access, spec });
    this.deps.onChange?.(made.name);
    return this.details(made);
  }

  async update(name: string, input: unknown): Promise<GroupDetails> {
    await this.find(name);
    const patch = parseOrThrow(UpdateGroupSchema, input);
    if (patch.description === undefined && patch.access === undefined && patch.spec === undefined) throw new BerthError('NOTHING_TO_UPDATE', 'Give description, access or spec');
    const spec = patch.spec ? await this.resolveMembers(patch.spec) : undefined;
    const g = await this.deps.store.updateGroup(name, { ...(patch.description === undefined ? {} : { description: patch.description }), ...(patch.access ? { access: patch.access } : {}), ...(spec ? { spec } : {}) });
    this.deps.onChange?.(name);
    return this.details(g);
  }

  async remove(name: string): Promise<void> {
    await this.deps.store.removeGroup(checkGroupName(name));
    this.deps.onChange?.(name);
  }

  /** Members named by id or name become ids; each must exist, once, and no two may share a prefix. */
  private async resolveMembers(spec: Group['spec']): Promise<Group['spec']> {
    const seen = new Map<string, string>();
    const prefixes = new Map<string, string>();
    const members = [];
    for (const [i, m] of spec.members.entries()) {
      let d: Deployment;
      try {
        d = await this.deps.findDeployment(m.deployment);
      } catch (err) {
        if (err instanceof BerthError && err.code === 'DEPLOYMENT_NOT_FOUND') throw new BerthError('VALIDATION_FAILED', `spec.members.${i}: no deployment ${JSON.stringify(m.deployment)}`, { issues: [{ field: `spec.members.${i}.deployment`, message: 'no such deployment' }] });
        throw err;
      }
      if (seen.has(d.id)) throw new BerthError('VALIDATION_FAILED', `spec.members.${i}: ${d.name} is a member already`, { issues: [{ field: `spec.members.${i}.deployment`, message: 'listed twice' }] });
      seen.set(d.id, d.name);
      const prefix = memberPrefix(m, d.name);
      const other = prefixes.get(prefix);
      if (other !== undefined && prefix !== '') throw new BerthError('VALIDATION_FAILED', `spec.members.${i}: ${d.name} and ${other} would share the prefix ${JSON.stringify(prefix)}; give one a prefix of its own`, { issues: [{ field: `spec.members.${i}.prefix`, message: 'prefix taken' }] });
      prefixes.set(prefix, d.name);
      members.push({ ...m, deployment: d.id });
    }
    return { ...spec, members };
  }

  /** What the API shows of a group: its members' names and prefixes, its endpoint. */
  async details(g: Group): Promise<GroupDetails> {
    const members = await Promise.all(
      g.spec.members.map(async (m) => {
        const d = await this.deps.findDeployment(m.deployment).catch(() => null);
        return { deployment: m.deployment, name: d?.name ?? null, prefix: memberPrefix(m, d?.name ?? m.deployment) };
      }),
    );
    return { ...g, endpoint: `/g/${g.name}/mcp`, members };
  }
}

export interface GroupHubDeps {
  groups: GroupService;
  /** Berth's own gateway, on loopback (`http://127.0.0.1:PORT`), known once Berth listens. */
  gatewayBase(): string;
  relay: GroupRelay;
  limits: SessionLimits;
  restart: RestartPolicy;
  timing?: BridgeTiming;
  version: string;
  log(group: string, line: string): void;
  /**
   * How often (at most) a group in use is checked against the store, for changes another Berth on the same store
   * wrote (a standby's API): default 5000 ms. Changes made through this Berth are applied at once.
   */
  recheckMs?: number;
  /** search_tools with embeddings (BERTH_EMBEDDINGS_URL); absent: BM25 alone. */
  embeddings?: ToolEmbeddings;
}

interface Hosted {
  endpoint: IsolatedBridge;
  view: GroupView;
  /** Its open sessions (told when the group changes). */
  channels: Set<GroupChannel>;
  /** Members a listing had to leave out, and why. */
  troubles: Map<string, string>;
  /** The stored group's updated_at its view was made from. */
  updatedAt: string;
  /** When the store was last asked whether the group changed. */
  checkedAt: number;
  close(): Promise<void>;
}

/** Each group's endpoint, made at its first request and closed when the group changes or goes. */
export class GroupHub {
  private readonly hosted = new Map<string, Promise<Hosted>>();

  constructor(private readonly deps: GroupHubDeps) {}

  /** The endpoint of group `name`: GROUP_NOT_FOUND when there is none. */
  async endpointFor(name: string): Promise<IsolatedBridge> {
    const hosted = await this.host(name);
    this.recheck(name, hosted);
    return hosted.endpoint;
  }

  /** Members the group's last listings left out, with why. */
  async troubles(name: string): Promise<Record<string, string>> {
    const h = this.hosted.get(name);
    return h ? Object.fromEntries((await h).troubles) : {};
  }

  /** The group changed (members, prefixes) or went: open sessions learn the new lists; a removed group's end. */
  async changed(name: string): Promise<void> {
    const h = this.hosted.get(name);
    if (!h) return;
    const hosted = await h.catch(() => null);
    const g = await this.deps.groups.find(name).catch(() => null);
    if (!hosted) return;
    if (!g) {
      this.hosted.delete(name);
      await hosted.close();
      return;
    }
    hosted.view = await this.viewOf(g);
    hosted.updatedAt = g.updated_at;
    for (const c of hosted.channels) c.groupChanged();
  }

  /**
   * A group in use is compared with the store now and then (not on every request, and without holding the request
   * up): another Berth on the same store may have changed or removed it.
   */
  private recheck(name: string, hosted: Hosted): void {
    const now = Date.now();
    if (now - hosted.checkedAt < (this.deps.recheckMs ?? 5000)) return;
    hosted.checkedAt = now;
    void this.deps.groups.find(name).then(
      (g) => (g.updated_at === hosted.updatedAt ? undefined : this.changed(name)),
      (err: unknown) => (err instanceof BerthError && err.code === 'GROUP_NOT_FOUND' ? this.changed(name) : undefined),
    ).catch((err: unknown) => this.deps.log(name, `group recheck failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  async close(): Promise<void> {
    const all = [...this.hosted.values()];
    this.hosted.clear();
    await Promise.all(all.map(async (h) => (await h.catch(() => null))?.close()));
  }

  private host(name: string): Promise<Hosted> {
    let h = this.hosted.get(name);
    if (!h) {
      h = this.make(name);
      this.hosted.set(name, h);
      h.catch(() => this.hosted.delete(name));
    }
    return h;
  }

  private async viewOf(g: Group): Promise<GroupView> {
    const v = await this.deps.groups.details(g);
    return {
      name: g.name,
      separator: g.spec.separator,
      failureMode: g.spec.failure_mode,
      toolSearch: g.spec.tool_search,
      members: g.spec.members.map((m, i) => ({ deploymentId: m.deployment, name: v.members[i]?.name ?? m.deployment, member: m })),
    };
  }

  private async make(name: string): Promise<Hosted> {
    const g = await this.deps.groups.find(name);
    const [{ createIsolatedBridge }, { GroupChannel }, { StreamableChannel }, { RemoteHttp }, { exactOrigin }] = await Promise.all([
      import('../mcp/bridge/isolated.js'),
      import('../mcp/group/channel.js'),
      import('../mcp/remote/streamable-channel.js'),
      import('../mcp/remote/wire.js'),
      import('../mcp/remote/exact-origin.js'),
    ]);
    const log = (line: string): void => this.deps.log(name, line);
    const pools = new Map<string, InstanceType<typeof RemoteHttp>>();
    const troubles = new Map<string, string>();
    const hosted: Hosted = {
      view: await this.viewOf(g),
      updatedAt: g.updated_at,
      checkedAt: Date.now(),
      channels: new Set(),
      troubles,
      endpoint: null as unknown as IsolatedBridge,
      close: async () => {
        await hosted.endpoint.close();
        await Promise.all([...pools.values()].map((p) => p.close()));
      },
    };
    const http = (deploymentId: string) => {
      let pool = pools.get(deploymentId);
      if (!pool) {
        const base = this.deps.gatewayBase();
        pool = new RemoteHttp(`${base}/s/${deploymentId}/mcp`, {}, this.deps.limits.requestTimeoutMs, exactOrigin(base));
        pools.set(deploymentId, pool);
      }
      return pool;
    };
    // The client each session's channel serves (told by the bridge when it binds the channel to a session): its
    // member links carry a relay credential for that client, so the members' limits count it on its own.
    const owners = new Map<string, ClientIdentity | null>();
    hosted.endpoint = createIsolatedBridge({
      deploymentId: `group-${name}`,
      spawn: (key) => {
        owners.set(key, null);
        const channel = new GroupChannel({
          key,
          view: () => hosted.view,
          openMember: (deploymentId, memberKey) =>
            new StreamableChannel({ http: http(deploymentId), key: memberKey, log, headers: { authorization: `Bearer ${this.deps.relay.tokenFor(name, owners.get(key) ?? null)}` } }),
          version: this.deps.version,
          log,
          ...(this.deps.embeddings ? { search: (query, tools, k, index) => this.deps.embeddings!.search(query, tools, k, index) } : {}),
          onMemberState: (deploymentId, trouble) => {
            if (trouble === null) troubles.delete(deploymentId);
            else troubles.set(deploymentId, trouble);
          },
        });
        hosted.channels.add(channel);
        void channel.exited.then(() => {
          hosted.channels.delete(channel);
          owners.delete(key);
        });
        return Promise.resolve(channel);
      },
      restart: this.deps.restart,
      limits: this.deps.limits,
      log,
      events: { onBound: (key, owner) => owners.has(key) && owners.set(key, owner) },
      version: this.deps.version,
      ...(this.deps.timing ? { timing: this.deps.timing } : {}),
      // A session of a group is a channel made for its client, with the client's own initialize: no pool.
      isolated: { warm: 0, maxWarm: 0, max: this.deps.limits.maxSessions, prime: false },
    });
    await hosted.endpoint.start();
    return hosted;
  }
}
