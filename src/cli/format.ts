/** Small text renderers for the CLI: durations, tables, log lines, client config snippets. */
import type { LogEntry } from '../api/contract.js';

/** 42s, 3m12s, 2h5m, 4d1h; `-` when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

/** 512 B, 3.4 KiB, 38.2 MiB, 1.5 GiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/** Left-aligned columns separated by two spaces, header first; no trailing spaces. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? '').length)));
  return all
    .map((row) =>
      widths
        .map((w, col) => (row[col] ?? '').padEnd(w))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const STREAM_LABEL: Record<LogEntry['stream'], string> = { stderr: 'stderr', stdout: 'stdout', system: '[berth]' };

/** `TIMESTAMP STREAM LINE`; Berth's own lifecycle lines are labelled `[berth]`. */
export function formatLogEntry(entry: LogEntry): string {
  const label = STREAM_LABEL[entry.stream] ?? entry.stream;
  return `${entry.ts} ${label.padEnd(7)} ${entry.line}`;
}

/**
 * A ready-to-paste MCP client configuration for one Streamable HTTP server. A private deployment's
 * clients need a token: the snippet shows where it goes, never a real one.
 */
export function clientSnippet(name: string, endpoint: string, access: 'private' | 'public' = 'public'): string {
  const auth = access === 'private' ? { headers: { Authorization: 'Bearer <token: berth tokens create --scope invoke:ID>' } } : {};
  return JSON.stringify({ mcpServers: { [name]: { type: 'http', url: endpoint, ...auth } } }, null, 2);
}

/** Make an endpoint absolute against the Berth base URL when the API returned a path. */
export function absoluteEndpoint(endpoint: string, baseUrl: string): string {
  try {
    return new URL(endpoint, `${baseUrl}/`).toString();
  } catch {
    return endpoint;
  }
}
