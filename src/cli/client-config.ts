/**
 * Client configs in and out (issue 13). In: the `mcpServers` JSON of Claude Desktop and Cursor, VS Code's
 * `servers`, MCPHub's `mcp_settings.json` (with its groups): each entry becomes a deployment (a command: an npm or
 * PyPI package from Berth's cache when it is `npx PKG`/`uvx PKG`, else a process; a URL: a url deployment), values
 * that look like secrets become Berth secrets, and a report says what was imported, skipped and why. Out: a ready
 * config for Berth's endpoints per client.
 */
import type { CreateDeploymentInput } from '../core/index.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isObject } from '../mcp/wire/jsonrpc.js';
import { packageFromCommand } from './deploy-args.js';

export interface PlannedDeployment {
  name: string;
  body: CreateDeploymentInput;
  /** Env or header names whose values go to Berth's secret store. */
  secrets: string[];
  /** Values the config left to its client to ask for (`${input:…}`, `${env:…}`): to be set with berth secrets set. */
  unresolved: string[];
}

export interface ImportPlan {
  format: 'mcpServers' | 'vscode';
  deployments: PlannedDeployment[];
  groups: { name: string; members: string[] }[];
  skipped: { name: string; why: string }[];
}

/** A name that says it holds a credential. */
const SECRET_KEY = /(^|[_-])(API[_-]?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|PAT|CREDENTIALS?|AUTH|AUTHORIZATION|COOKIE|SESSION)([_-]|$)/i;
/** A value that looks like a credential whatever its name: well-known token prefixes. */
const SECRET_VALUE = /^(sk-|sk_live_|rk_live_|ghp_|gho_|ghs_|github_pat_|glpat-|xox[abpr]-|AKIA|AIza|Bearer\s|brt_)/;
/** A value a client fills in when it starts the server: Berth cannot know it. */
const PLACEHOLDER = /\$\{(input|env|workspaceFolder|userHome)?:?[^}]*\}/;

export function looksSecret(name: string, value: string): boolean {
  return SECRET_KEY.test(name) || SECRET_VALUE.test(value);
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const stringMap = (v: unknown): Record<string, string> => (isObject(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : {});

/** The plan for a client config file's text; throws with a clear message when it is not one. */
export function planImport(text: string, opts: { packageCache?: boolean; start?: boolean } = {}): ImportPlan {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new Error('not a client config: expected a JSON object with mcpServers (Claude Desktop, Cursor, MCPHub) or servers (VS Code)');
  const format = isObject(doc.mcpServers) ? 'mcpServers' : isObject(doc.servers) ? 'vscode' : null;
  if (!format) throw new Error('not a client config: no "mcpServers" (Claude Desktop, Cursor, MCPHub) or "servers" (VS Code) object');
  const entries = (format === 'mcpServers' ? doc.mcpServers : doc.servers) as Record<string, unknown>;
  const plan: ImportPlan = { format, deployments: [], groups: [], skipped: [] };
  for (const [name, raw] of Object.entries(entries)) {
    if (!isObject(raw)) {
      plan.skipped.push({ name, why: 'not an object' });
      continue;
    }
    if (raw.disabled === true || raw.enabled === false) {
      plan.skipped.push({ name, why: 'disabled in the config' });
      continue;
    }
    const planned = typeof raw.url === 'string' ? remoteEntry(name, raw) : typeof raw.command === 'string' ? commandEntry(name, raw, opts.packageCache !== false) : null;
    if (!planned) {
      plan.skipped.push({ name, why: 'neither a command nor a url' });
      continue;
    }
    if (typeof planned === 'string') {
      plan.skipped.push({ name, why: planned });
      continue;
    }
    planned.body.start = opts.start !== false && planned.unresolved.length === 0;
    plan.deployments.push(planned);
  }
  // MCPHub: "groups": [{ "name": "…", "servers": ["a", { "name": "b" }] }]
  for (const g of Array.isArray(doc.groups) ? doc.groups : []) {
    if (!isObject(g) || typeof g.name !== 'string') continue;
    const members = (Array.isArray(g.servers) ? g.servers : []).map((s) => (typeof s === 'string' ? s : isObject(s) && typeof s.name === 'string' ? s.name : null)).filter((s): s is string => s !== null);
    const known = members.filter((m) => plan.deployments.some((d) => d.name === m));
    if (known.length === 0) plan.skipped.push({ name: `group ${g.name}`, why: 'none of its servers is imported' });
    else plan.groups.push({ name: groupName(g.name), members: known });
  }
  return plan;
}

/** A group name Berth takes (lower case, digits, dashes). */
function groupName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'group';
}

function commandEntry(name: string, e: Record<string, unknown>, packageCache: boolean): PlannedDeployment | string {
  const command = e.command as string;
  const args = strings(e.args);
  const env: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  const unresolved: string[] = [];
  for (const [k, v] of Object.entries(stringMap(e.env))) {
    if (PLACEHOLDER.test(v)) unresolved.push(k);
    else if (looksSecret(k, v)) secrets[k] = v;
    else env[k] = v;
  }
  if (args.some((a) => PLACEHOLDER.test(a))) return `an argument is filled in by the client (${args.find((a) => PLACEHOLDER.test(a))}); deploy it by hand with the value`;
  const pkg = packageCache ? packageFromCommand(command, args) : null;
  const spec = pkg
    ? { type: 'package' as const, registry: pkg.registry, name: pkg.name, ...(pkg.version ? { version: pkg.version } : {}), args: pkg.args, env }
    : { type: 'process' as const, command, args, env, ...(typeof e.cwd === 'string' ? { cwd: e.cwd } : {}) };
  return { name, body: { name, description: `imported: ${[command, ...args].join(' ').slice(0, 200)}`, tags: ['imported'], spec, ...(Object.keys(secrets).length > 0 ? { secrets } : {}) }, secrets: Object.keys(secrets), unresolved };
}

function remoteEntry(name: string, e: Record<string, unknown>): PlannedDeployment | string {
  const endpoint = e.url as string;
  if (PLACEHOLDER.test(endpoint)) return `its URL is filled in by the client (${endpoint})`;
  const type = typeof e.type === 'string' ? e.type.toLowerCase() : '';
  const headers: Record<string, string> = {};
  const unresolved: string[] = [];
  for (const [k, v] of Object.entries(stringMap(e.headers))) {
    if (PLACEHOLDER.test(v)) unresolved.push(k);
    else headers[k] = v; // Berth stores every header value of a url deployment as a secret
  }
  const transport = type === 'sse' ? { transport: 'sse' as const } : {};
  return { name, body: { name, description: `imported: ${endpoint}`, tags: ['imported'], spec: { type: 'url', endpoint, headers, ...transport } }, secrets: Object.keys(headers), unresolved };
}

export const CLIENT_KINDS = ['claude', 'cursor', 'vscode'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export function isClientKind(v: string): v is ClientKind {
  return (CLIENT_KINDS as readonly string[]).includes(v);
}

/** How a client starts `berth connect`: this installation's node and bin/berth.js, pointed at Berth. */
export interface ConnectLaunch {
  node: string;
  bin: string;
  berthUrl: string;
  /** Written into the snippet (it is then a secret); absent: `berth login` on that machine provides it. */
  token?: string;
}

/** This installation's `berth` (dist/cli/client-config.js → bin/berth.js), run by this node. */
export function thisBerth(berthUrl: string, token?: string): ConnectLaunch {
  return { node: process.execPath, bin: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/berth.js'), berthUrl, ...(token ? { token } : {}) };
}

/** The command entry that runs `berth connect TARGET`. */
export function connectEntry(launch: ConnectLaunch, target: string): { command: string; args: string[]; env: Record<string, string> } {
  return { command: launch.node, args: [launch.bin, 'connect', target], env: { BERTH_URL: launch.berthUrl, ...(launch.token ? { BERTH_TOKEN: launch.token } : {}) } };
}

/** A client's config whose one server is `berth connect TARGET` over stdio (`berth connect --print-config`). */
export function connectConfig(kind: ClientKind, label: string, target: string, launch: ConnectLaunch): Record<string, unknown> {
  const entry = connectEntry(launch, target);
  return kind === 'vscode' ? { servers: { [label]: { type: 'stdio', ...entry } } } : { mcpServers: { [label]: entry } };
}

export interface ExportTarget {
  /** The key in the client's config. */
  label: string;
  /** What `berth connect` takes: an id or `group:NAME`. */
  connect: string;
  /** The endpoint URL. */
  url: string;
}

/**
 * A client's config for Berth's endpoints. Claude Desktop starts local commands only: `berth connect`. Cursor and
 * VS Code speak Streamable HTTP: the endpoint with a token, as a placeholder the client fills in from the
 * environment (Cursor) or asks for once (VS Code) unless `token` is given.
 */
export function exportConfig(kind: ClientKind, targets: ExportTarget[], opts: ConnectLaunch): Record<string, unknown> {
  if (kind === 'claude') return { mcpServers: Object.fromEntries(targets.map((t) => [t.label, connectEntry(opts, t.connect)])) };
  if (kind === 'cursor') {
    const auth = `Bearer ${opts.token ?? '${env:BERTH_TOKEN}'}`;
    return { mcpServers: Object.fromEntries(targets.map((t) => [t.label, { url: t.url, headers: { Authorization: auth } }])) };
  }
  const auth = `Bearer ${opts.token ?? '${input:berth-token}'}`;
  return {
    ...(opts.token ? {} : { inputs: [{ type: 'promptString', id: 'berth-token', description: 'Berth API token (berth tokens create --scope invoke:…)', password: true }] }),
    servers: Object.fromEntries(targets.map((t) => [t.label, { type: 'http', url: t.url, headers: { Authorization: auth } }])),
  };
}
