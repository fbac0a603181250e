/**
 * What a JSON-RPC message is, told from its first and last bytes only: for stdout lines too long to
 * keep (see lines.ts), the bridge still wants to know which request an oversize answer belongs to.
 *
 * The top-level members are read forwards from the start while their values are scalars, and
 * backwards from the end likewise; both stop at the first object or array value. SDK servers put
 * `id` either early (`{"jsonrpc":"2.0","id":7,"result":…`) or last (`{"result":…,"jsonrpc":"2.0","id":7}`).
 */
import type { JsonRpcId } from './jsonrpc.js';

export type PeekKind = 'response' | 'request' | 'notification' | 'unknown';

export interface Peek {
  kind: PeekKind;
  /** The top-level `id`, when one of the scanned members is a valid id. */
  id: JsonRpcId | undefined;
}

const WS = new Set([' ', '\t', '\n', '\r']);
const SCALAR_CHAR = /[-+.0-9a-zA-Z]/;

function isId(v: unknown): v is JsonRpcId {
  return typeof v === 'string' || Number.isSafeInteger(v);
}

/** Index just past the string starting at `i` (a `"`), or -1 when it does not end in `s`. */
function stringEnd(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  return -1;
}

/** Index of the `"` that opens the string whose closing `"` is at `end`, or -1 when it is not in `s`. */
function stringStart(s: string, end: number): number {
  for (let k = end - 1; k >= 0; k--) {
    if (s[k] !== '"') continue;
    let slashes = 0;
    while (k - 1 - slashes >= 0 && s[k - 1 - slashes] === '\\') slashes++;
    if (slashes % 2 === 0) return k;
  }
  return -1;
}

function parse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

interface Members {
  keys: Set<string>;
  id: JsonRpcId | undefined;
}

/** Top-level members from the start of a JSON object, while their values are complete scalars. */
function forward(s: string, out: Members): void {
  let i = 0;
  const ws = (): void => {
    while (i < s.length && WS.has(s[i]!)) i++;
  };
  ws();
  if (s[i] !== '{') return;
  i++;
  for (;;) {
    ws();
    if (s[i] !== '"') return;
    const keyEnd = stringEnd(s, i);
    if (keyEnd < 0) return;
    const key = parse(s.slice(i, keyEnd));
    if (!key.ok || typeof key.value !== 'string') return;
    i = keyEnd;
    ws();
    if (s[i] !== ':') return;
    i++;
    ws();
    out.keys.add(key.value);
    let end: number;
    if (s[i] === '"') end = stringEnd(s, i);
    else {
      end = i;
      while (end < s.length && SCALAR_CHAR.test(s[end]!)) end++;
      // A number cut off by the end of the head is not a number we know.
      if (end === i || end === s.length) end = -1;
    }
    if (end < 0) return;
    const value = parse(s.slice(i, end));
    if (!value.ok) return;
    if (key.value === 'id' && isId(value.value)) out.id = value.value;
    i = end;
    ws();
    if (s[i] !== ',') return;
    i++;
  }
}

/** Top-level members from the end of a JSON object, while their values are complete scalars. */
function backward(s: string, out: Members): void {
  let j = s.length - 1;
  const ws = (): void => {
    while (j >= 0 && WS.has(s[j]!)) j--;
  };
  ws();
  if (s[j] !== '}') return;
  j--;
  for (;;) {
    ws();
    let start: number;
    if (s[j] === '"') start = stringStart(s, j);
    else {
      start = j;
      while (start >= 0 && SCALAR_CHAR.test(s[start]!)) start--;
      // Reaching the start of the tail means the token may be longer than what we have.
      start = start === j || start < 0 ? -1 : start + 1;
    }
    if (start < 0) return;
    const value = parse(s.slice(start, j + 1));
    if (!value.ok) return;
    j = start - 1;
    ws();
    if (s[j] !== ':') return;
    j--;
    ws();
    if (s[j] !== '"') return;
    const keyStart = stringStart(s, j);
    if (keyStart < 0) return;
    const key = parse(s.slice(keyStart, j + 1));
    if (!key.ok || typeof key.value !== 'string') return;
    out.keys.add(key.value);
    if (key.value === 'id' && isId(value.value) && out.id === undefined) out.id = value.value;
    j = keyStart - 1;
    ws();
    if (s[j] !== ',') return;
    j--;
  }
}

/** Classify a JSON-RPC message from its first bytes and (when the line was cut) its last bytes. */
export function peekMessage(head: Buffer, tail: Buffer | null): Peek {
  // forward() also records the key of the first member whose value is an object or array (where it stops).
  const out: Members = { keys: new Set(), id: undefined };
  forward(head.toString('utf8'), out);
  if (tail) backward(tail.toString('utf8'), out);
  const keys = out.keys;
  let kind: PeekKind = 'unknown';
  if (keys.has('result') || keys.has('error')) kind = 'response';
  else if (keys.has('method') || keys.has('params')) kind = keys.has('id') ? 'request' : 'notification';
  return { kind, id: out.id };
}
