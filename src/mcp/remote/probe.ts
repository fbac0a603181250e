import type { Dispatcher } from 'undici';
import type { ToolSummary } from '../../core/index.js';
import { readRpcResponse } from './http-client.js';

const PROTOCOL_VERSION = '2025-11-25';

/**
 * A minimal MCP client round trip against a remote Streamable HTTP endpoint:
 * initialize, notifications/initialized, tools/list (all pages), then end the session.
 */
export async function probeRemote(
  dispatcher: Dispatcher,
  path: string,
  extraHeaders: Record<string, string>,
  signal: AbortSignal,
): Promise<{ tools: ToolSummary[] }> {
  let sessionId: string | undefined;
  let protocolVersion = PROTOCOL_VERSION;
  let nextId = 1;
  const headers = () => ({
    ...extraHeaders,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': protocolVersion,
    ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
  });
  const call = async (method: string, params: unknown) => {
    const id = nextId++;
    const res = await dispatcher.request({ path, method: 'POST', headers: headers(), body: JSON.stringify({ jsonrpc: '2.0', id, method, params }), signal } as Dispatcher.RequestOptions);
    const sid = res.headers['mcp-session-id'];
    if (typeof sid === 'string') sessionId = sid;
    return (await readRpcResponse(res, id)).result as Record<string, unknown>;
  };
  const init = await call('initialize', { protocolVersion, capabilities: {}, clientInfo: { name: 'berth-probe', version: '0.1.0' } });
  if (typeof init.protocolVersion === 'string') protocolVersion = init.protocolVersion;
  try {
    const note = await dispatcher.request({ path, method: 'POST', headers: headers(), body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), signal } as Dispatcher.RequestOptions);
    await note.body.dump();
    const tools: ToolSummary[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await call('tools/list', cursor ? { cursor } : {});
      for (const t of (result.tools as { name: string; title?: string; description?: string }[] | undefined) ?? []) {
        tools.push({ name: t.name, ...(t.title ? { title: t.title } : {}), ...(t.description ? { description: t.description } : {}) });
      }
      cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
      if (!cursor) break;
    }
    return { tools };
  } finally {
    if (sessionId) {
      await dispatcher
        .request({ path, method: 'DELETE', headers: headers(), signal } as Dispatcher.RequestOptions)
        .then((r) => r.body.dump())
        .catch(() => {});
    }
  }
}
