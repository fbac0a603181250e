import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BerthError } from '../../core/errors.js';
import { Catalog, shortName } from './catalog.js';

const BUILTIN = path.resolve(import.meta.dirname, '../../../catalog');

async function errOf(p: Promise<unknown>): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('no error');
}

const WEATHER = {
  name: 'com.example/weather-mcp',
  description: 'Weather',
  packages: [{ registryType: 'npm', identifier: '@example/weather', transport: { type: 'stdio' }, environmentVariables: [{ name: 'API_KEY', isSecret: true, isRequired: true }] }],
};

describe('Catalog', () => {
  let dir: string;
  let catalog: Catalog;
  const warnings: string[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-catalog-'));
    catalog = new Catalog({ builtinDir: BUILTIN, operatorDir: path.join(dir, 'catalog'), warn: (m) => warnings.push(m) });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ships valid built-in templates: memory, filesystem, everything (npm), time and fetch (pypi), deepwiki (remote)', async () => {
    const all = await catalog.list();
    expect(all.map((e) => e.name)).toEqual(['deepwiki', 'everything', 'fetch', 'filesystem', 'memory', 'time']);
    expect(all.every((e) => e.source === 'builtin')).toBe(true);
    expect(warnings).toEqual([]);
    const memory = await catalog.get('memory');
    expect(memory.server.packages?.[0]).toMatchObject({ registryType: 'npm', identifier: '@modelcontextprotocol/server-memory', transport: { type: 'stdio' } });
    expect((await catalog.get('time')).server.packages?.[0]?.registryType).toBe('pypi');
    expect((await catalog.get('deepwiki')).server.remotes?.[0]).toMatchObject({ type: 'streamable-http', url: 'https://mcp.deepwiki.com/mcp' });
    expect((await catalog.list('Knowledge')).map((e) => e.name)).toEqual(['memory']);
    expect((await catalog.list('PYPI')).map((e) => e.name)).toEqual([]);
  });

  it('adds an operator template under a derived or given name, refuses a taken one, removes only its own', async () => {
    const added = await catalog.add(WEATHER);
    expect(added).toMatchObject({ name: 'weather', source: 'operator' });
    expect(JSON.parse(readFileSync(path.join(dir, 'catalog', 'weather.json'), 'utf8'))).toMatchObject({ name: 'com.example/weather-mcp' });
    expect((await catalog.get('weather')).server.description).toBe('Weather');
    expect((await errOf(catalog.add(WEATHER))).code).toBe('CATALOG_ENTRY_EXISTS');
    expect((await errOf(catalog.add(WEATHER, { name: 'memory' }))).code).toBe('CATALOG_ENTRY_EXISTS');
    expect((await catalog.add(WEATHER, { name: 'weather2' })).name).toBe('weather2');
    expect((await errOf(catalog.remove('memory'))).code).toBe('CATALOG_ENTRY_BUILTIN');
    await catalog.remove('weather');
    expect(existsSync(path.join(dir, 'catalog', 'weather.json'))).toBe(false);
    expect((await errOf(catalog.get('weather'))).code).toBe('CATALOG_ENTRY_NOT_FOUND');
    expect((await errOf(catalog.get('../etc/passwd'))).code).toBe('CATALOG_ENTRY_NOT_FOUND');
  });

  it('names the wrong field of an invalid server.json', async () => {
    const cases: [unknown, string][] = [
      [{ ...WEATHER, packages: [{ ...WEATHER.packages[0], registryType: 'cargo' }] }, 'packages.0.registryType'],
      [{ ...WEATHER, name: 'no slash' }, 'name'],
      [{ ...WEATHER, description: undefined }, 'description'],
      [{ ...WEATHER, packages: [{ ...WEATHER.packages[0], environmentVariables: [{ name: 'BAD-NAME' }] }] }, 'packages.0.environmentVariables.0.name'],
      [{ name: 'a/b', description: 'x' }, 'packages'],
      [{ ...WEATHER, remotes: [{ type: 'websocket', url: 'https://x' }] }, 'remotes.0.type'],
    ];
    for (const [value, field] of cases) {
      const e = await errOf(catalog.add(value));
      expect(e.code, field).toBe('CATALOG_ENTRY_INVALID');
      expect((e.details as { issues: { field: string }[] }).issues.map((i) => i.field), field).toContain(field);
      expect(e.message).toContain(field);
    }
  });

  it('skips a broken operator file with a warning instead of failing the list', async () => {
    await catalog.add(WEATHER);
    writeFileSync(path.join(dir, 'catalog', 'broken.json'), '{ nope');
    expect((await catalog.list()).map((e) => e.name)).toContain('weather');
    expect(warnings.join('\n')).toContain('broken.json');
  });

  it('derives short names', () => {
    expect(shortName('io.github.modelcontextprotocol/server-memory')).toBe('memory');
    expect(shortName('com.example/mcp-server-git')).toBe('git');
    expect(shortName('com.example/Weather_MCP')).toBe('weather_mcp');
  });
});
