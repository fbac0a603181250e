/**
 * A tiny JSON writer for the fuzzer: like JSON.stringify, but it can also emit verbatim text
 * (huge numbers, 10k-deep nesting, broken escapes) and objects with duplicate keys.
 */

/** Emitted as-is. */
export class RawJson {
  constructor(readonly text: string) {}
}

/** An object written with its entries in order, duplicates included. */
export class DupObject {
  constructor(readonly entries: [string, unknown][]) {}
}

/** Serialise `v`; `undefined` inside objects drops the key (as JSON.stringify does), elsewhere it becomes `null`. */
export function writeJson(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    default:
      break;
  }
  if (v instanceof DupObject) {
    return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${writeJson(x)}`).join(',')}}`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => writeJson(x)).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${writeJson(x)}`);
  }
  return `{${parts.join(',')}}`;
}

/** `depth` levels of nesting around `inner`, as arrays or objects. */
export function deepNest(depth: number, shape: 'array' | 'object', inner = '0'): RawJson {
  if (shape === 'array') return new RawJson('['.repeat(depth) + inner + ']'.repeat(depth));
  return new RawJson('{"a":'.repeat(depth) + inner + '}'.repeat(depth));
}
