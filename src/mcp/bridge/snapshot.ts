import type { ToolSummary } from '../../core/index.js';
import type { JsonRpcRequest } from '../wire/jsonrpc.js';
import type { ServerSnapshot } from '../types.js';

/** The listings a snapshot keeps: method, snapshot key (= the result's item key), capability that offers it. */
const LISTS = [
  { method: 'tools/list', key: 'tools', capability: 'tools', changed: 'notifications/tools/list_changed' },
  { method: 'prompts/list', key: 'prompts', capability: 'prompts', changed: 'notifications/prompts/list_changed' },
  { method: 'resources/list', key: 'resources', capability: 'resources', changed: 'notifications/resources/list_changed' },
  { method: 'resources/templates/list', key: 'resourceTemplates', capability: 'resources', changed: 'notifications/resources/list_changed' },
] as const;

type ListKey = (typeof LISTS)[number]['key'];
export type ListRequest = (method: string, params: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** Pages followed at most per listing (a server whose cursors never end stops here). */
const MAX_PAGES = 100;

/** Every page of one listing, merged (the items of `key`). */
export async function collectList(request: ListRequest, method: string, key: string): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await request(method, cursor === undefined ? {} : { cursor });
    const got = result[key];
    if (Array.isArray(got)) items.push(...(got as unknown[]));
    const next = result.nextCursor;
    if (typeof next !== 'string' || next === '' || next === cursor) break;
    cursor = next;
  }
  return items;
}

/** The listings named by `methods` (default all) that the server's capabilities offer; one failing is null. */
export async function learnLists(
  init: Record<string, unknown>,
  request: ListRequest,
  methods?: readonly string[],
  strict = false,
): Promise<Partial<Record<ListKey, unknown[] | null>>> {
  const caps = (init.capabilities ?? {}) as Record<string, unknown>;
  const out: Partial<Record<ListKey, unknown[] | null>> = {};
  await Promise.all(
    LISTS.filter((l) => !methods || methods.includes(l.method)).map(async (l) => {
      if (!caps[l.capability]) {
        out[l.key] = null;
        return;
      }
      try {
        out[l.key] = await collectList(request, l.method, l.key);
      } catch (err) {
        // tools/list must answer for a swap to go ahead; the others are a convenience.
        if (strict && l.key === 'tools') throw err;
        out[l.key] = null;
      }
    }),
  );
  return out;
}

/** A full snapshot: the handshake and every listing the server offers. */
export async function learnSnapshot(init: Record<string, unknown>, request: ListRequest, strict = false): Promise<ServerSnapshot> {
  const lists = await learnLists(init, request, undefined, strict);
  return { initialize: init, tools: lists.tools ?? null, prompts: lists.prompts ?? null, resources: lists.resources ?? null, resourceTemplates: lists.resourceTemplates ?? null, at: Date.now() };
}

/** The listing a list_changed notification is about (resources: both resource listings). */
export function listsChangedBy(method: string): string[] {
  return LISTS.filter((l) => l.changed === method).map((l) => l.method);
}

/**
 * The answer to `req` from a snapshot, or null when the snapshot cannot answer it: not a listing, a listing
 * the snapshot lacks, or a page asked by cursor (the snapshot's listings are whole: it never gives one out).
 */
export function answerFromSnapshot(snap: ServerSnapshot, req: JsonRpcRequest): Record<string, unknown> | null {
  if (req.method === 'ping') return {};
  const l = LISTS.find((x) => x.method === req.method);
  if (!l || req.params?.cursor !== undefined) return null;
  const items = snap[l.key];
  return items ? { [l.key]: items } : null;
}

/** The list_changed notifications due when a server's listings go from `a` to `b` (a null `a`: all `b` has). */
export function changedLists(a: ServerSnapshot | null, b: ServerSnapshot): string[] {
  const out = new Set<string>();
  for (const l of LISTS) {
    const before = a ? JSON.stringify(a[l.key]) : undefined;
    if (before !== JSON.stringify(b[l.key]) && (a?.[l.key] || b[l.key])) out.add(l.changed);
  }
  return [...out];
}

/** Name, title and description of each tool of a listing. */
export function toolSummaries(items: unknown[] | null): ToolSummary[] {
  const tools: ToolSummary[] = [];
  for (const t of items ?? []) {
    if (typeof t !== 'object' || t === null) continue;
    const { name, title, description } = t as Record<string, unknown>;
    if (typeof name !== 'string') continue;
    const summary: ToolSummary = { name };
    if (typeof title === 'string') summary.title = title;
    if (typeof description === 'string') summary.description = description;
    tools.push(summary);
  }
  return tools;
}

const listOrNull = (v: unknown): boolean => v === null || Array.isArray(v);

/** True when `v` (e.g. read back from the store) has a snapshot's shape. */
export function isServerSnapshot(v: unknown): v is ServerSnapshot {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.initialize === 'object' && s.initialize !== null && !Array.isArray(s.initialize) &&
    listOrNull(s.tools) && listOrNull(s.prompts) && listOrNull(s.resources) && listOrNull(s.resourceTemplates) && typeof s.at === 'number'
  );
}
