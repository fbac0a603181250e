import { describe, expect, it } from 'vitest';
import { answerFromSnapshot, changedLists, collectList, isServerSnapshot, listsChangedBy } from './snapshot.js';
import type { ServerSnapshot } from '../types.js';

const snap = (over: Partial<ServerSnapshot> = {}): ServerSnapshot => ({
  initialize: { protocolVersion: '2025-11-25', capabilities: { tools: {}, resources: {} }, serverInfo: { name: 's', version: '1' } },
  tools: [{ name: 'a' }],
  prompts: null,
  resources: [{ uri: 'x://1' }],
  resourceTemplates: [],
  at: 1,
  ...over,
});

describe('server snapshot helpers', () => {
  it('answers whole listings and ping, and nothing with a cursor, a missing listing or another method', () => {
    const s = snap();
    expect(answerFromSnapshot(s, { jsonrpc: '2.0', id: 1, method: 'tools/list' })).toEqual({ tools: [{ name: 'a' }] });
    expect(answerFromSnapshot(s, { jsonrpc: '2.0', id: 1, method: 'resources/templates/list', params: {} })).toEqual({ resourceTemplates: [] });
    expect(answerFromSnapshot(s, { jsonrpc: '2.0', id: 1, method: 'ping' })).toEqual({});
    expect(answerFromSnapshot(s, { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { cursor: '2' } })).toBeNull();
    expect(answerFromSnapshot(s, { jsonrpc: '2.0', id: 1, method: 'prompts/list' })).toBeNull();
    expect(answerFromSnapshot(s, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'a' } })).toBeNull();
  });

  it('follows every page and stops at a cursor that repeats', async () => {
    const pages: Record<string, Record<string, unknown>> = { '': { tools: [1, 2], nextCursor: 'b' }, b: { tools: [3], nextCursor: 'c' }, c: { tools: [4], nextCursor: 'c' } };
    const asked: unknown[] = [];
    const items = await collectList(async (_m, params) => {
      asked.push(params.cursor);
      return pages[(params.cursor as string | undefined) ?? '']!;
    }, 'tools/list', 'tools');
    expect(items).toEqual([1, 2, 3, 4]);
    expect(asked).toEqual([undefined, 'b', 'c']);
  });

  it('names the list_changed notifications a change of listings calls for', () => {
    const a = snap();
    expect(changedLists(a, snap())).toEqual([]);
    expect(changedLists(a, snap({ tools: [{ name: 'b' }] }))).toEqual(['notifications/tools/list_changed']);
    expect(changedLists(a, snap({ resourceTemplates: [{ uriTemplate: 'x://{id}' }] }))).toEqual(['notifications/resources/list_changed']);
    expect(changedLists(null, a)).toEqual(['notifications/tools/list_changed', 'notifications/resources/list_changed']);
    expect(listsChangedBy('notifications/resources/list_changed')).toEqual(['resources/list', 'resources/templates/list']);
  });

  it('recognises a snapshot read back from JSON and refuses other shapes', () => {
    expect(isServerSnapshot(JSON.parse(JSON.stringify(snap())))).toBe(true);
    expect(isServerSnapshot({ ...snap(), tools: 'x' })).toBe(false);
    expect(isServerSnapshot({ ...snap(), initialize: null })).toBe(false);
    expect(isServerSnapshot(null)).toBe(false);
  });
});
