import type { Dispatcher } from 'undici';
import { BerthError } from '../../core/errors.js';

/** Read one JSON-RPC response with `id` out of a Streamable HTTP answer (JSON or SSE). */
export async function readRpcResponse(res: Dispatcher.ResponseData, id: number): Promise<Record<string, unknown>> {
  const type = String(res.headers['content-type'] ?? '');
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new BerthError('UPSTREAM_FAILED', `remote answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  const messages: unknown[] = [];
  if (type.includes('text/event-stream')) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      const data = event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) messages.push(JSON.parse(data));
    }
  } else {
    const parsed: unknown = JSON.parse(text);
    messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  const found = messages.find((m) => typeof m === 'object' && m !== null && (m as { id?: unknown }).id === id) as Record<string, unknown> | undefined;
  if (!found) throw new BerthError('UPSTREAM_FAILED', 'remote answer did not contain the response');
  if (found.error) throw new BerthError('UPSTREAM_FAILED', `remote returned error: ${JSON.stringify(found.error).slice(0, 300)}`);
  return found;
}
