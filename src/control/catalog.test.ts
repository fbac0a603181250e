import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BerthError } from '../core/errors.js';
import { CreateDeploymentSchema } from '../core/index.js';
import { Catalog, type CatalogEntry } from '../sources/catalog/index.js';
import { CatalogDeploySchema, CatalogService, createFromTemplate } from './catalog.js';

const builtins = new Catalog({ builtinDir: path.resolve(import.meta.dirname, '../../catalog'), operatorDir: '/nonexistent-berth-catalog' });
const make = async (name: string, body: unknown = {}) => createFromTemplate(await builtins.get(name), CatalogDeploySchema.parse(body));
const entry = (server: Record<string, unknown>): CatalogEntry => ({ name: 'x', source: 'operator', server: { name: 'com.example/x', description: 'X', ...server } as CatalogEntry['server'] });

function errOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    return err as BerthError;
  }
  throw new Error('no error');
}

describe('createFromTemplate', () => {
  it('npm → a package spec with the pinned version, env_schema from environmentVariables; the result is a valid CreateDeployment', async () => {
    const c = await make('memory');
    expect(c).toMatchObject({
      name: 'memory',
      tags: ['catalog:memory'],
      spec: { type: 'package', registry: 'npm', name: '@modelcontextprotocol/server-memory', version: '2026.8.31', args: [], env: {} },
      env_schema: [{ name: 'MEMORY_FILE_PATH', type: 'string', required: false, secret: false, default: '/tmp/memory.jsonl' }],
    });
    expect(CreateDeploymentSchema.safeParse(c).success).toBe(true);
    const named = await make('memory', { name: 'kg', env: { MEMORY_FILE_PATH: '/data/kg.jsonl' }, spec: { network: 'none', mounts: [{ path: '/data', mode: 'rw' }] } });
    expect(named).toMatchObject({ name: 'kg', spec: { env: { MEMORY_FILE_PATH: '/data/kg.jsonl' }, network: 'none', mounts: [{ path: '/data', mode: 'rw' }] } });
  });

  it('pypi with named arguments; a required argument must be given', async () => {
    expect((await make('time')).spec).toMatchObject({ type: 'package', registry: 'pypi', name: 'mcp-server-time', args: [] });
    expect((await make('everything')).spec).toMatchObject({ args: ['stdio'] });
    const e = await make('filesystem').catch((err: BerthError) => err);
    expect(e).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('<directory>') });
    expect((await make('filesystem', { args: ['/data'] })).spec).toMatchObject({ args: ['/data'] });
  });

  it('a remote → a url spec', async () => {
    expect((await make('deepwiki')).spec).toEqual({ type: 'url', endpoint: 'https://mcp.deepwiki.com/mcp', headers: {} });
  });

  it('secret variables: a plain value becomes a secret, a reference stays, a missing required one is named', () => {
    const t = entry({ packages: [{ registryType: 'npm', identifier: '@x/y', transport: { type: 'stdio' }, environmentVariables: [{ name: 'API_KEY', isSecret: true, isRequired: true, description: 'the key' }, { name: 'LEVEL', format: 'number', default: '3' }] }] });
    const plain = createFromTemplate(t, CatalogDeploySchema.parse({ env: { API_KEY: 'k-123' } }));
    expect(plain.secrets).toEqual({ API_KEY: 'k-123' });
    expect(plain.spec).toMatchObject({ env: {} });
    expect(plain.env_schema).toContainEqual({ name: 'API_KEY', type: 'string', description: 'the key', required: true, secret: true, default: null });
    const ref = createFromTemplate(t, CatalogDeploySchema.parse({ env: { API_KEY: 'secret_ref:global:KEY' } }));
    expect(ref.spec).toMatchObject({ env: { API_KEY: 'secret_ref:global:KEY' } });
    expect(ref.secrets).toBeUndefined();
    expect(createFromTemplate(t, CatalogDeploySchema.parse({ secrets: { API_KEY: 'v' } })).secrets).toEqual({ API_KEY: 'v' });
    const missing = errOf(() => createFromTemplate(t, CatalogDeploySchema.parse({})));
    expect(missing.code).toBe('VALIDATION_FAILED');
    expect(missing.message).toBe('catalog template x needs API_KEY (secret: --secret API_KEY): the key');
  });

  it('oci → an image spec (stdio, or http with the port and path of its transport URL); a remote with a secret header', () => {
    const oci = entry({ packages: [{ registryType: 'oci', identifier: 'docker.io/acme/weather', version: '1.2.0', transport: { type: 'streamable-http', url: 'http://localhost:9000/api/mcp' } }] });
    expect(createFromTemplate(oci, CatalogDeploySchema.parse({})).spec).toEqual({ type: 'image', image: 'acme/weather:1.2.0', transport: 'http', port: 9000, path: '/api/mcp', args: [], env: {} });
    const stdio = entry({ packages: [{ registryType: 'oci', identifier: 'ghcr.io/acme/tool:2', transport: { type: 'stdio' } }] });
    expect(createFromTemplate(stdio, CatalogDeploySchema.parse({})).spec).toMatchObject({ type: 'image', image: 'ghcr.io/acme/tool:2', transport: 'stdio' });
    const remote = entry({ remotes: [{ type: 'sse', url: 'https://{tenant}.example.com/sse', headers: [{ name: 'Authorization', isSecret: true, isRequired: true }] }] });
    expect(errOf(() => createFromTemplate(remote, CatalogDeploySchema.parse({}))).message).toContain('tenant');
    const made = createFromTemplate(remote, CatalogDeploySchema.parse({ env: { tenant: 'acme' }, secrets: { Authorization: 'Bearer t' } }));
    expect(made.spec).toEqual({ type: 'url', endpoint: 'https://acme.example.com/sse', headers: { Authorization: 'Bearer t' }, transport: 'sse' });
    expect(made.secrets).toBeUndefined();
    expect(errOf(() => createFromTemplate(oci, CatalogDeploySchema.parse({ from: 'remote' }))).message).toContain('has no remote');
  });
});

describe('CatalogService.deploy', () => {
  it('hands DeploymentService.create the CreateDeployment, with the actor; unknown templates are named', async () => {
    const calls: unknown[] = [];
    const svc = new CatalogService({ catalog: builtins, deployments: { create: async (body, actor) => (calls.push([body, actor]), { id: 'x' } as never) } });
    await svc.deploy('memory', { name: 'm' }, 'tok_1');
    expect(calls).toMatchObject([[{ name: 'm', spec: { type: 'package' } }, 'tok_1']]);
    await expect(svc.deploy('nope', {})).rejects.toMatchObject({ code: 'CATALOG_ENTRY_NOT_FOUND' });
    await expect(svc.deploy('memory', { bogus: 1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
