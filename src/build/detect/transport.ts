/**
 * Which transport a server speaks: stdio, or HTTP (Streamable HTTP or SSE) with its port and path. Read from the
 * code (the SDK transport classes it imports, FastMCP's run(transport=…), fastmcp's transportType), the start
 * script's flags, and smithery.yaml; bounded: a few hundred source files, a few MiB.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Finding, TransportInfo } from './types.js';

const MAX_FILES = 300;
const MAX_FILE_BYTES = 512 * 1024;
const MAX_TOTAL_BYTES = 8 * 1024 * 1024;
const SKIP = new Set(['node_modules', '.git', '.venv', 'venv', '__pycache__', 'test', 'tests', '__tests__', 'coverage', '.next']);

interface Scan {
  http: string | null;
  stdio: string | null;
  port: number | null;
  path: string | null;
}

/** Source files (js/ts or py) under `root`, shallowest first, within the bounds. */
function sourceFiles(root: string, exts: RegExp): string[] {
  const out: string[] = [];
  const queue: [string, number][] = [[root, 0]];
  let bytes = 0;
  while (queue.length > 0 && out.length < MAX_FILES) {
    const [dir, depth] = queue.shift()!;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (depth < 4 && !SKIP.has(e.name) && !e.name.startsWith('.')) queue.push([p, depth + 1]);
      } else if (e.isFile() && exts.test(e.name) && !/\.(test|spec|d)\.[cm]?[jt]s$/.test(e.name)) {
        const size = statSync(p).size;
        if (size > MAX_FILE_BYTES || bytes + size > MAX_TOTAL_BYTES) continue;
        bytes += size;
        out.push(p);
        if (out.length >= MAX_FILES) break;
      }
    }
  }
  return out;
}

const NODE_HTTP = /\b(StreamableHTTPServerTransport|SSEServerTransport|createMcpExpressApp|NodeStreamableHTTPServerTransport|transportType\s*:\s*['"](httpStream|sse)['"])/;
const NODE_STDIO = /\b(StdioServerTransport|transportType\s*:\s*['"]stdio['"])/;
const PY_HTTP = /\.run\([^)]*transport\s*=\s*['"](streamable-http|http|sse)['"]|\b(streamable_http_app|sse_app|http_app)\s*\(/;
const PY_STDIO = /\.run\(\s*\)|\.run\([^)]*transport\s*=\s*['"]stdio['"]|\bstdio_server\s*\(/;

function scan(files: string[], root: string, python: boolean): Scan {
  const s: Scan = { http: null, stdio: null, port: null, path: null };
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const rel = path.relative(root, f);
    if (!s.http && (python ? PY_HTTP : NODE_HTTP).test(text)) s.http = rel;
    if (!s.stdio && (python ? PY_STDIO : NODE_STDIO).test(text)) s.stdio = rel;
    if (s.port === null) s.port = portIn(text, python);
    if (s.path === null) s.path = pathIn(text, python);
  }
  return s;
}

function portIn(text: string, python: boolean): number | null {
  const patterns = python
    ? [/\bport\s*=\s*(\d{2,5})\b/, /\bPORT['"]?\s*(?:,|\))\s*['"]?(\d{2,5})/, /getenv\(\s*['"]PORT['"]\s*,\s*['"]?(\d{2,5})/]
    : [/process\.env\.PORT\s*(?:\?\?|\|\|)\s*['"]?(\d{2,5})/, /\.listen\(\s*(\d{2,5})\b/, /\bport\s*:\s*(\d{2,5})\b/, /\bPORT\s*=\s*(\d{2,5})\b/];
  for (const re of patterns) {
    const m = re.exec(text);
    const n = m ? Number(m[1]) : NaN;
    if (n >= 1 && n <= 65_535) return n;
  }
  return null;
}

function pathIn(text: string, python: boolean): string | null {
  const m = python
    ? /(?:streamable_http_path|path)\s*=\s*['"](\/[\w./-]*)['"]/.exec(text)
    : /\.(?:post|all|use|get)\(\s*['"](\/(?:mcp|sse)[\w./-]*)['"]/.exec(text) ?? /endpoint\s*:\s*['"](\/[\w./-]*)['"]/.exec(text);
  return m ? m[1]! : null;
}

/** A start script's flags: `--transport http`, `--http`, `--stdio`, `--port 8080`. */
function scriptFlags(script: string): { kind?: 'stdio' | 'http'; port?: number } {
  const t = /--transport[= ](\S+)/.exec(script)?.[1];
  const kind = t ? (t === 'stdio' ? 'stdio' : 'http') : /--(http|sse|streamable-http)\b/.test(script) ? 'http' : /--stdio\b/.test(script) ? 'stdio' : undefined;
  const port = Number(/--port[= ](\d{2,5})/.exec(script)?.[1] ?? NaN);
  return { ...(kind ? { kind } : {}), ...(port >= 1 && port <= 65_535 ? { port } : {}) };
}

/**
 * The transport of the source at `root`: smithery.yaml's type when it says one, else the start command's flags,
 * else what the code uses (a server that can do both runs as stdio, the SDKs' default).
 */
export function detectTransport(root: string, opts: { python: boolean; start: string[] | null; startScript?: string; smithery?: 'stdio' | 'http' | null }, findings: Finding[]): TransportInfo {
  const files = sourceFiles(root, opts.python ? /\.py$/ : /\.(m|c)?(j|t)s$/);
  const s = scan(files, root, opts.python);
  const flags = scriptFlags([...(opts.start ?? []), opts.startScript ?? ''].join(' '));
  const defaults = opts.python ? { port: 8000, path: s.http && /sse/.test(readSafe(root, s.http)) && !/streamable/.test(readSafe(root, s.http)) ? '/sse' : '/mcp' } : { port: null, path: '/mcp' };
  const http = (from: string): TransportInfo => {
    const info: TransportInfo = { kind: 'http', port: flags.port ?? s.port ?? defaults.port, path: s.path ?? defaults.path, from };
    findings.push({ what: 'transport', value: `http on port ${info.port ?? '(unknown: set PORT)'} at ${info.path}`, from });
    return info;
  };
  const stdio = (from: string): TransportInfo => {
    findings.push({ what: 'transport', value: 'stdio', from });
    return { kind: 'stdio', from };
  };
  if (opts.smithery === 'http') return http('smithery.yaml startCommand.type');
  if (opts.smithery === 'stdio') return stdio('smithery.yaml startCommand.type');
  if (flags.kind === 'http') return http('the start command\'s flags');
  if (flags.kind === 'stdio') return stdio('the start command\'s flags');
  if (s.http && !s.stdio) return http(s.http);
  if (s.stdio) return stdio(s.stdio);
  return stdio('default (no transport found in the code)');
}

function readSafe(root: string, rel: string): string {
  try {
    return readFileSync(path.join(root, rel), 'utf8');
  } catch {
    return '';
  }
}
