/**
 * smithery.yaml (Smithery's server manifest): `startCommand.type` stdio or http, `configSchema` (a JSON Schema of
 * the server's settings) and `commandFunction`, a JavaScript function from the config to `{ command, args, env }`.
 * Berth never runs that function: it reads `command`, `args` and `env: { NAME: config.key }` only when they are
 * written as literals, and warns otherwise.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { EnvHint, Finding, Problem } from './types.js';
import { parseYamlLite } from './yaml-lite.js';

export interface SmitheryInfo {
  file: string;
  type: 'stdio' | 'http' | null;
  /** The literal command and args of commandFunction, when it has them. */
  start: string[] | null;
  env: EnvHint[];
}

const MAX_BYTES = 256 * 1024;

export function readSmithery(root: string, findings: Finding[], warnings: Problem[]): SmitheryInfo | null {
  const file = ['smithery.yaml', 'smithery.yml'].find((f) => existsSync(path.join(root, f)));
  if (!file) return null;
  const full = path.join(root, file);
  if (!statSync(full).isFile() || statSync(full).size > MAX_BYTES) {
    warnings.push({ code: 'SMITHERY_INVALID', message: `${file} is not a file of at most ${MAX_BYTES} bytes; ignored`, fix: `shorten ${file}` });
    return null;
  }
  let doc: unknown;
  try {
    doc = parseYamlLite(readFileSync(full, 'utf8'));
  } catch (err) {
    warnings.push({ code: 'SMITHERY_INVALID', message: `${file} could not be read: ${(err as Error).message}; ignored`, fix: `fix ${file} (YAML), or remove it` });
    return null;
  }
  const sc = obj(obj(doc)?.startCommand);
  if (!sc) {
    warnings.push({ code: 'SMITHERY_INVALID', message: `${file} has no startCommand; ignored`, fix: 'add startCommand with type stdio or http' });
    return null;
  }
  const type = sc.type === 'stdio' || sc.type === 'http' ? sc.type : null;
  if (type) findings.push({ what: 'transport', value: type, from: `${file} startCommand.type` });
  const fn = typeof sc.commandFunction === 'string' ? sc.commandFunction : '';
  const start = literalCommand(fn);
  if (start) findings.push({ what: 'start', value: start.join(' '), from: `${file} startCommand.commandFunction` });
  else if (fn.trim() !== '') {
    warnings.push({
      code: 'SMITHERY_COMMAND_DYNAMIC',
      message: `${file}: startCommand.commandFunction is JavaScript that Berth does not run, and its command and args are not plain literals; the start command comes from the project files instead`,
      fix: 'write command and args as string literals in commandFunction, or give the deployment spec.start',
    });
  }
  const env = envHints(fn, obj(sc.configSchema), file);
  for (const h of env) findings.push({ what: 'env', value: `${h.name}${h.required ? ' (required)' : ''}`, from: h.from });
  return { file, type, start, env };
}

function obj(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

const STR = String.raw`(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")`;

/** `command: 'node'` and `args: ['dist/index.js', '--stdio']` when both are string literals. */
function literalCommand(fn: string): string[] | null {
  const cmd = new RegExp(String.raw`\bcommand\s*:\s*${STR}`).exec(fn);
  if (!cmd) return null;
  const command = cmd[1] ?? cmd[2]!;
  const argsAt = /\bargs\s*:\s*\[([^\]]*)\]/.exec(fn);
  if (/\bargs\s*:/.test(fn) && !argsAt) return null;
  const args: string[] = [];
  if (argsAt) {
    const inner = argsAt[1]!.trim();
    const item = new RegExp(String.raw`^\s*${STR}\s*(,|$)`);
    let rest = inner;
    while (rest.trim() !== '') {
      const m = item.exec(rest);
      if (!m) return null; // an argument built from config or an expression
      args.push(m[1] ?? m[2]!);
      rest = rest.slice(m[0].length);
    }
  }
  return [command, ...args];
}

/** Environment variables from `env: { NAME: config.key }` in commandFunction, described by configSchema. */
function envHints(fn: string, schema: Record<string, unknown> | null, file: string): EnvHint[] {
  const props = obj(schema?.properties) ?? {};
  const required = new Set(Array.isArray(schema?.required) ? schema.required.filter((x): x is string => typeof x === 'string') : []);
  const hints: EnvHint[] = [];
  const mapped = new Set<string>();
  for (const m of fn.matchAll(/["']?([A-Za-z_][A-Za-z0-9_]*)["']?\s*:\s*config\??\.([A-Za-z_$][\w$]*)/g)) {
    const [, name, key] = m as unknown as [string, string, string];
    if (hints.some((h) => h.name === name)) continue;
    mapped.add(key);
    const p = obj(props[key]);
    hints.push({
      name,
      required: required.has(key),
      ...(typeof p?.description === 'string' ? { description: p.description.slice(0, 1000) } : {}),
      ...(p?.default !== undefined && typeof p.default !== 'object' ? { default: String(p.default) } : {}),
      secret: /key|token|secret|password/i.test(`${name} ${key}`),
      from: `${file} configSchema.properties.${key}`,
    });
  }
  return hints;
}
