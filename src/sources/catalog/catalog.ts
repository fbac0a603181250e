/**
 * The catalog of templates: server.json files, one per template, named by the file (`memory.json` → `memory`).
 * Built-ins ship in Berth's `catalog/` folder and cannot be changed; an operator adds more to `<dataDir>/catalog`
 * (`berth catalog add`), and removes only those.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { parseServerJson, type ServerJson } from './schema.js';

export interface CatalogEntry {
  /** The short name used by `berth deploy catalog:NAME`. */
  name: string;
  source: 'builtin' | 'operator';
  server: ServerJson;
}

export const CATALOG_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Largest server.json read or added. */
export const SERVER_JSON_MAX_BYTES = 256 * 1024;

export interface CatalogOptions {
  /** Berth's own templates (read-only). */
  builtinDir: string;
  /** The operator's templates (`<dataDir>/catalog`), created when the first one is added. */
  operatorDir: string;
  /** Where a broken file is reported (it is skipped, not fatal). */
  warn?: (message: string) => void;
}

export class Catalog {
  constructor(private readonly opts: CatalogOptions) {}

  /** Every template, built-ins first, each group by name; `q` keeps those whose name, title or description has it. */
  async list(q?: string): Promise<CatalogEntry[]> {
    const all = [...(await this.readDir(this.opts.builtinDir, 'builtin')), ...(await this.readDir(this.opts.operatorDir, 'operator'))];
    const seen = new Set<string>();
    const entries = all.filter((e) => (seen.has(e.name) ? false : (seen.add(e.name), true)));
    const needle = q?.trim().toLowerCase();
    if (!needle) return entries;
    return entries.filter((e) => [e.name, e.server.name, e.server.title ?? '', e.server.description].some((s) => s.toLowerCase().includes(needle)));
  }

  async get(name: string): Promise<CatalogEntry> {
    if (CATALOG_NAME.test(name)) {
      for (const [dir, source] of [[this.opts.builtinDir, 'builtin'], [this.opts.operatorDir, 'operator']] as const) {
        const entry = await this.readEntry(dir, `${name}.json`, source);
        if (entry) return entry;
      }
    }
    throw new BerthError('CATALOG_ENTRY_NOT_FOUND', `The catalog has no template ${JSON.stringify(name)}; see them with: berth catalog`, { name });
  }

  /** Adds an operator template (its name: `name`, else derived from server.json's name). */
  async add(value: unknown, opts: { name?: string } = {}): Promise<CatalogEntry> {
    const server = parseServerJson(value, 'the template');
    const name = opts.name ?? shortName(server.name);
    if (!CATALOG_NAME.test(name)) throw new BerthError('CATALOG_ENTRY_INVALID', `name: ${JSON.stringify(name)} must be lower-case letters, digits, . _ - (at most 64)`, { issues: [{ field: 'name', message: 'invalid' }] });
    const existing = await this.list();
    const same = existing.find((e) => e.name === name);
    if (same) {
      throw new BerthError('CATALOG_ENTRY_EXISTS', `The catalog already has ${same.source === 'builtin' ? 'a built-in' : 'a'} template ${JSON.stringify(name)}${same.source === 'operator' ? `; remove it first with: berth catalog rm ${name}` : '; add yours under another name (--name)'}`, { name });
    }
    const body = `${JSON.stringify(server, null, 2)}\n`;
    if (Buffer.byteLength(body) > SERVER_JSON_MAX_BYTES) throw new BerthError('CATALOG_ENTRY_INVALID', `the template is larger than ${SERVER_JSON_MAX_BYTES} bytes`);
    await mkdir(this.opts.operatorDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.opts.operatorDir, `${name}.json`);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, body, { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
    return { name, source: 'operator', server };
  }

  /** Removes an operator template; a built-in one cannot be removed. */
  async remove(name: string): Promise<CatalogEntry> {
    const entry = await this.get(name);
    if (entry.source === 'builtin') throw new BerthError('CATALOG_ENTRY_BUILTIN', `${JSON.stringify(name)} is a built-in template; only templates added with berth catalog add can be removed`, { name });
    await rm(path.join(this.opts.operatorDir, `${name}.json`), { force: true });
    return entry;
  }

  private async readDir(dir: string, source: CatalogEntry['source']): Promise<CatalogEntry[]> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    } catch {
      return [];
    }
    const out: CatalogEntry[] = [];
    for (const f of names) {
      try {
        const e = await this.readEntry(dir, f, source);
        if (e) out.push(e);
      } catch (err) {
        this.opts.warn?.(`catalog: ${path.join(dir, f)} skipped: ${(err as Error).message}`);
      }
    }
    return out;
  }

  private async readEntry(dir: string, file: string, source: CatalogEntry['source']): Promise<CatalogEntry | null> {
    const name = file.slice(0, -'.json'.length);
    if (!CATALOG_NAME.test(name)) return null;
    const full = path.join(dir, file);
    let info;
    try {
      info = await stat(full);
    } catch {
      return null;
    }
    if (!info.isFile()) return null;
    if (info.size > SERVER_JSON_MAX_BYTES) throw new BerthError('CATALOG_ENTRY_INVALID', `${file} is larger than ${SERVER_JSON_MAX_BYTES} bytes`);
    let value: unknown;
    try {
      value = JSON.parse(await readFile(full, 'utf8'));
    } catch (err) {
      throw new BerthError('CATALOG_ENTRY_INVALID', `${file} is not JSON: ${(err as Error).message}`);
    }
    return { name, source, server: parseServerJson(value, file) };
  }
}

/** `io.github.modelcontextprotocol/server-memory` → `memory`; `com.example/weather-mcp` → `weather`. */
export function shortName(serverName: string): string {
  const last = serverName.slice(serverName.lastIndexOf('/') + 1).toLowerCase();
  const short = last.replace(/^(mcp-server-|server-|mcp-)/, '').replace(/(-mcp-server|-mcp|-server)$/, '');
  return (short || last).replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64);
}
