/**
 * Masks known secret values in text that leaves Berth (deployment logs, Berth's own log, status
 * messages). It runs on every log line, so each deployment's values are compiled once into one
 * regular expression, rebuilt only when a value is added.
 */

export const REDACTED = '[redacted]';

/**
 * Values shorter than this are not masked: a short value ("true", "8080") would mask unrelated text
 * all over the logs, and the masks would tell where the value occurs.
 */
export const MIN_REDACTED_LENGTH = 6;

/** Most values remembered per deployment (and globally); the oldest are forgotten first. */
const MAX_VALUES = 1000;

/** The forms a value may take in a line: as is, JSON-escaped, base64, URL-encoded, and each line of a multi-line value. */
function formsOf(value: string): string[] {
  const forms = [value, JSON.stringify(value).slice(1, -1), Buffer.from(value).toString('base64'), encodeURIComponent(value)];
  if (value.includes('\n')) forms.push(...value.split(/\r?\n/));
  return forms.filter((f) => f.length >= MIN_REDACTED_LENGTH);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

class ValueSet {
  readonly values = new Set<string>();
  version = 0;

  add(values: Iterable<string>): void {
    for (const v of values) {
      if (typeof v !== 'string' || v.length < MIN_REDACTED_LENGTH || this.values.has(v)) continue;
      this.values.add(v);
      this.version++;
      if (this.values.size > MAX_VALUES) this.values.delete(this.values.values().next().value as string);
    }
  }
}

interface Compiled {
  key: string;
  pattern: RegExp | null;
}

function compile(sets: ValueSet[]): RegExp | null {
  const forms = new Set<string>();
  for (const s of sets) for (const v of s.values) for (const f of formsOf(v)) forms.add(f);
  if (forms.size === 0) return null;
  // Longest first, so a value that contains another is masked whole.
  const sorted = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
  return new RegExp(sorted.join('|'), 'g');
}

export class Redactor {
  readonly #global = new ValueSet();
  readonly #deployments = new Map<string, ValueSet>();
  readonly #compiled = new Map<string, Compiled>();

  /** Values of global secrets: masked in every deployment's lines and in Berth's own. */
  addGlobal(values: Iterable<string>): void {
    this.#global.add(values);
  }

  /** Values a deployment was given (or may be given): masked in its lines and in Berth's own. */
  addDeployment(id: string, values: Iterable<string>): void {
    let set = this.#deployments.get(id);
    if (!set) {
      set = new ValueSet();
      this.#deployments.set(id, set);
    }
    set.add(values);
  }

  /** The deployment is gone: stop masking its values. */
  forget(id: string): void {
    this.#deployments.delete(id);
    this.#compiled.delete(id);
    this.#compiled.delete('');
  }

  /** `text` with every known value of `deploymentId` (and every global one) masked; without an id, every known value. */
  redact(text: string, deploymentId?: string): string {
    const pattern = this.#pattern(deploymentId ?? '');
    return pattern === null ? text : text.replace(pattern, REDACTED);
  }

  #pattern(id: string): RegExp | null {
    const sets = id === '' ? [this.#global, ...this.#deployments.values()] : [this.#global, ...(this.#deployments.has(id) ? [this.#deployments.get(id)!] : [])];
    const key = id === '' ? `${this.#global.version}:${[...this.#deployments].map(([d, s]) => `${d}=${s.version}`).join(',')}` : sets.map((s) => s.version).join(':');
    const cached = this.#compiled.get(id);
    if (cached?.key === key) return cached.pattern;
    const pattern = compile(sets);
    this.#compiled.set(id, { key, pattern });
    return pattern;
  }
}
