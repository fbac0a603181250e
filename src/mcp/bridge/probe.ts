import type { ToolSummary } from '../../core/index.js';

const MAX_PAGES = 100;

/** Follow tools/list pages (nextCursor) through `list` and keep name, title and description. */
export async function collectTools(list: (params: Record<string, unknown>) => Promise<Record<string, unknown>>): Promise<ToolSummary[]> {
  const tools: ToolSummary[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await list(cursor === undefined ? {} : { cursor });
    const items = Array.isArray(result.tools) ? (result.tools as unknown[]) : [];
    for (const t of items) {
      if (typeof t !== 'object' || t === null) continue;
      const { name, title, description } = t as Record<string, unknown>;
      if (typeof name !== 'string') continue;
      const summary: ToolSummary = { name };
      if (typeof title === 'string') summary.title = title;
      if (typeof description === 'string') summary.description = description;
      tools.push(summary);
    }
    const next = result.nextCursor;
    if (typeof next !== 'string' || next === '' || next === cursor) break;
    cursor = next;
  }
  return tools;
}
