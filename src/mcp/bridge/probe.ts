import type { ToolSummary } from '../../core/index.js';
import { collectList, toolSummaries } from './snapshot.js';

/** Follow tools/list pages (nextCursor) through `list` and keep name, title and description. */
export async function collectTools(list: (params: Record<string, unknown>) => Promise<Record<string, unknown>>): Promise<ToolSummary[]> {
  return toolSummaries(await collectList((_method, params) => list(params), 'tools/list', 'tools'));
}
