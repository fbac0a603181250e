/**
 * The part of YAML that smithery.yaml files use: block mappings and sequences by indentation, plain and quoted
 * scalars, block scalars (| and >), flow sequences and JSON-like flow mappings, comments. No anchors, tags or
 * multi-document streams (they throw). Berth has no YAML dependency; this reads configuration, never runs it.
 */

interface Line {
  indent: number;
  text: string;
  no: number;
}

const MAX_DEPTH = 64;

export function parseYamlLite(source: string): unknown {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    if (raw.includes('\t') && /^\s*\t/.test(raw)) throw new Error(`line ${i + 1}: tabs are not allowed for indentation`);
    const text = stripComment(raw).replace(/\s+$/, '');
    if (text.trim() === '' || text.trim() === '---') {
      lines.push({ indent: -1, text: '', no: i + 1 });
      return;
    }
    lines.push({ indent: text.length - text.trimStart().length, text: text.trimStart(), no: i + 1 });
  });
  const state = { i: 0, lines, raw: source.split(/\r?\n/) };
  skipBlank(state);
  if (state.i >= lines.length) return null;
  return block(state, lines[state.i]!.indent, 0);
}

type State = { i: number; lines: Line[]; raw: string[] };

function skipBlank(s: State): void {
  while (s.i < s.lines.length && s.lines[s.i]!.indent === -1) s.i++;
}

function block(s: State, indent: number, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error('nested too deeply');
  const first = s.lines[s.i]!;
  if (first.text.startsWith('- ') || first.text === '-') return sequence(s, indent, depth);
  return mapping(s, indent, depth);
}

function sequence(s: State, indent: number, depth: number): unknown[] {
  const out: unknown[] = [];
  for (skipBlank(s); s.i < s.lines.length; skipBlank(s)) {
    const line = s.lines[s.i]!;
    if (line.indent < indent) break;
    if (line.indent > indent || !(line.text.startsWith('- ') || line.text === '-')) throw new Error(`line ${line.no}: bad indentation`);
    const rest = line.text.slice(1).trimStart();
    if (rest === '') {
      s.i++;
      skipBlank(s);
      out.push(s.i < s.lines.length && s.lines[s.i]!.indent > indent ? block(s, s.lines[s.i]!.indent, depth + 1) : null);
    } else if (isKey(rest)) {
      // "- key: value" starts a mapping indented at the key's column.
      const col = indent + (line.text.length - rest.length);
      s.lines[s.i] = { indent: col, text: rest, no: line.no };
      out.push(mapping(s, col, depth + 1));
    } else {
      s.i++;
      out.push(scalarOrBlock(s, rest, indent, line.no));
    }
  }
  return out;
}

function mapping(s: State, indent: number, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (skipBlank(s); s.i < s.lines.length; skipBlank(s)) {
    const line = s.lines[s.i]!;
    if (line.indent < indent) break;
    if (line.indent > indent) throw new Error(`line ${line.no}: bad indentation`);
    const m = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:'"{[][^:]*?)\s*:(?:\s+|$)(.*)$/.exec(line.text);
    if (!m) throw new Error(`line ${line.no}: expected key: value`);
    const key = String(scalar(m[1]!, line.no));
    if (key === '__proto__') throw new Error(`line ${line.no}: key __proto__ is not allowed`);
    const rest = m[2]!.trim();
    s.i++;
    if (rest === '') {
      skipBlank(s);
      const next = s.lines[s.i];
      if (next && (next.indent > indent || (next.indent === indent && next.text.startsWith('- ')))) out[key] = block(s, next.indent, depth + 1);
      else out[key] = null;
    } else {
      out[key] = scalarOrBlock(s, rest, indent, line.no);
    }
  }
  return out;
}

function scalarOrBlock(s: State, rest: string, indent: number, no: number): unknown {
  if (/^[|>][+-]?$/.test(rest)) return blockScalar(s, rest, indent);
  if (rest.startsWith('&') || rest.startsWith('*') || rest.startsWith('!')) throw new Error(`line ${no}: anchors, aliases and tags are not supported`);
  return scalar(rest, no);
}

/** `|` keeps line breaks, `>` folds them; `-` strips the final break. Reads the raw lines (comments are text there). */
function blockScalar(s: State, head: string, parentIndent: number): string {
  const parts: string[] = [];
  let own = -1;
  while (s.i < s.lines.length) {
    const raw = s.raw[s.lines[s.i]!.no - 1]!;
    const ind = raw.length - raw.trimStart().length;
    if (raw.trim() === '') {
      parts.push('');
      s.i++;
      continue;
    }
    if (ind <= parentIndent) break;
    if (own === -1) own = ind;
    if (ind < own) break;
    parts.push(raw.slice(own).replace(/\s+$/, ''));
    s.i++;
  }
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  const text = head.startsWith('|') ? parts.join('\n') : parts.join('\n').replace(/([^\n])\n(?=[^\n])/g, '$1 ');
  return head.endsWith('-') ? text : `${text}\n`;
}

function isKey(text: string): boolean {
  return /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^:'"{[\s-][^:]*?)\s*:(\s|$)/.test(text);
}

function scalar(text: string, no: number): unknown {
  const t = text.trim();
  if (t.startsWith('"')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      throw new Error(`line ${no}: bad double-quoted string`);
    }
  }
  if (t.startsWith("'")) {
    if (!t.endsWith("'") || t.length < 2) throw new Error(`line ${no}: bad single-quoted string`);
    return t.slice(1, -1).replace(/''/g, "'");
  }
  if (t.startsWith('[') || t.startsWith('{')) return flow(t, no);
  if (t === 'null' || t === '~') return null;
  if (t === 'true' || t === 'True') return true;
  if (t === 'false' || t === 'False') return false;
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  return t;
}

/** `[a, "b", 3]` or a JSON-like `{ "a": 1 }` / `{a: 1}` on one line. */
function flow(t: string, no: number): unknown {
  if (t.startsWith('[') && t.endsWith(']')) {
    const inner = t.slice(1, -1).trim();
    if (inner === '') return [];
    if (/[[{]/.test(inner)) return json(t, no);
    return splitFlow(inner).map((p) => scalar(p, no));
  }
  if (t.startsWith('{') && t.endsWith('}')) {
    const inner = t.slice(1, -1).trim();
    if (inner === '') return {};
    if (/[[{]/.test(inner)) return json(t, no);
    const out: Record<string, unknown> = {};
    for (const part of splitFlow(inner)) {
      const c = part.indexOf(':');
      if (c === -1) throw new Error(`line ${no}: expected key: value in a flow mapping`);
      const key = String(scalar(part.slice(0, c), no));
      if (key !== '__proto__') out[key] = scalar(part.slice(c + 1), no);
    }
    return out;
  }
  throw new Error(`line ${no}: unterminated flow collection`);
}

function json(t: string, no: number): unknown {
  try {
    return JSON.parse(t) as unknown;
  } catch {
    throw new Error(`line ${no}: nested flow collections must be JSON`);
  }
}

function splitFlow(inner: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (const ch of inner) {
    if (quote) {
      cur += ch;
      if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
    } else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === '\\' && quote === '"') i++;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      if (i === 0 || /[\s:[{,-]/.test(line[i - 1]!)) quote = ch;
    } else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}
