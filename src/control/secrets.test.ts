import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, DeploymentSpecSchema, type Deployment, type DeploymentSpec, type DeploymentSpecInput, type EnvVar } from '../core/index.js';
import { MasterKeys } from '../secrets/master-key.js';
import { memorySecretStore } from '../secrets/memory-rows.js';
import { REDACTED, Redactor } from '../secrets/redactor.js';
import type { SecretStore } from '../secrets/types.js';
import { MemoryDeploymentStore } from '../store/memory-store.js';
import { sampleDeployment } from '../store/store.contract.js';
import { checkEnvAgainstSchema, launchEnv } from './env.js';
import { headerSecretName, SecretsService, withSecretRefs } from './secrets.js';
import { publicSpec } from './views.js';

const ID = 'new-abc123def456';
const spec = (s: DeploymentSpecInput): DeploymentSpec => DeploymentSpecSchema.parse(s);
const proc = (env: Record<string, string> = {}, args: string[] = []) => spec({ type: 'process', command: 'node', args, env });
const url = (headers: Record<string, string>) => spec({ type: 'url', endpoint: 'https://mcp.example.com/mcp', headers });

async function failure(fn: () => unknown): Promise<BerthError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a BerthError');
}

describe('withSecretRefs: a new deployment keeps references, its values go to the store', () => {
  it('turns each create-body secret into spec.env.KEY = secret_ref:ID:KEY', () => {
    const { spec: out, values } = withSecretRefs(ID, proc({ PLAIN: 'x', G: 'secret_ref:global:G' }), { API_KEY: 'sk-1', DB_PASS: 'pw-2' });
    expect(out.type === 'process' && out.env).toStrictEqual({ PLAIN: 'x', G: 'secret_ref:global:G', API_KEY: `secret_ref:${ID}:API_KEY`, DB_PASS: `secret_ref:${ID}:DB_PASS` });
    expect(Object.fromEntries(values)).toStrictEqual({ API_KEY: 'sk-1', DB_PASS: 'pw-2' });
  });

  it('moves plain url headers into secrets and keeps headers that already reference one', () => {
    const { spec: out, values } = withSecretRefs(ID, url({ Authorization: 'Bearer tok-1', 'X-Api-Key': 'key-2', 'X-Shared': 'Bearer secret_ref:global:GH' }), {});
    expect(out.type === 'url' && out.headers).toStrictEqual({
      Authorization: `secret_ref:${ID}:HEADER_AUTHORIZATION`,
      'X-Api-Key': `secret_ref:${ID}:HEADER_X_API_KEY`,
      'X-Shared': 'Bearer secret_ref:global:GH',
    });
    expect(Object.fromEntries(values)).toStrictEqual({ HEADER_AUTHORIZATION: 'Bearer tok-1', HEADER_X_API_KEY: 'key-2' });
    expect(headerSecretName('x-b3-traceid')).toBe('HEADER_X_B3_TRACEID');
  });

  it('refuses what cannot work, without quoting values', async () => {
    const cases: [() => unknown, RegExp][] = [
      [() => withSecretRefs(ID, proc({ API_KEY: 'plain-in-env' }), { API_KEY: 'sk-1' }), /spec.env.API_KEY and secrets.API_KEY are both given/],
      [() => withSecretRefs(ID, url({}), { TOKEN: 'sk-1' }), /applies to process deployments/],
      [() => withSecretRefs(ID, url({ 'x-key': 'sk-1', 'X-KEY': 'sk-2' }), {}), /same secret HEADER_X_KEY/],
      [() => withSecretRefs(ID, proc({}, ['--token', 'secret_ref:global:GH']), {}), /spec.args/],
    ];
    for (const [fn, message] of cases) {
      const err = await failure(fn);
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.message).toMatch(message);
      expect(err.message).not.toMatch(/sk-1|sk-2|plain-in-env/);
    }
  });
});

describe('checkEnvAgainstSchema: env_schema secrets take references only', () => {
  const schema: EnvVar[] = [{ name: 'API_KEY', type: 'string', required: true, secret: true }];

  it('accepts a reference and refuses plain text (naming the field, not the value)', async () => {
    expect(() => checkEnvAgainstSchema(proc({ API_KEY: 'secret_ref:global:K' }), schema)).not.toThrow();
    const err = await failure(() => checkEnvAgainstSchema(proc({ API_KEY: 'sk-plain-value' }), schema));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.message).toContain('spec.env.API_KEY: is a secret');
    expect(err.message).not.toContain('sk-plain-value');
    const embedded = await failure(() => checkEnvAgainstSchema(proc({ API_KEY: 'x secret_ref:global:K' }), schema));
    expect(embedded.message).toContain('spec.env.API_KEY');
  });

  it('refuses a plain default for a secret, and still requires a required one', async () => {
    const withDefault: EnvVar[] = [{ name: 'API_KEY', type: 'string', required: false, secret: true, default: 'sk-default' }];
    expect((await failure(() => checkEnvAgainstSchema(proc({ API_KEY: 'secret_ref:global:K' }), withDefault))).message).toContain('env_schema.API_KEY.default');
    expect((await failure(() => checkEnvAgainstSchema(proc({}), schema))).message).toContain('spec.env.API_KEY: required');
  });
});

describe('publicSpec: what the API shows', () => {
  it('shows references, and [redacted] for a header or env_schema secret that is not one', () => {
    expect(publicSpec(url({ Authorization: 'Bearer legacy-plain', 'X-Ref': 'Bearer secret_ref:global:GH' }), [])).toMatchObject({
      headers: { Authorization: REDACTED, 'X-Ref': 'Bearer secret_ref:global:GH' },
    });
    const schema: EnvVar[] = [{ name: 'API_KEY', type: 'string', required: true, secret: true }];
    expect(publicSpec(proc({ API_KEY: 'legacy-plain', OTHER: 'visible', REF: 'secret_ref:global:X' }), schema)).toMatchObject({
      env: { API_KEY: REDACTED, OTHER: 'visible', REF: 'secret_ref:global:X' },
    });
  });
});

describe('SecretsService', () => {
  let dir: string;
  let secrets: SecretStore;
  let redactor: Redactor;
  let deployments: MemoryDeploymentStore;
  let service: SecretsService;
  let live: Deployment;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-secrets-svc-'));
    const keys = MasterKeys.load({ keyFile: join(dir, 'master.key') });
    secrets = memorySecretStore(keys.cipher);
    redactor = new Redactor();
    deployments = new MemoryDeploymentStore();
    live = await deployments.create(sampleDeployment('live-aaaaaaaaaaaa', { spec: proc({ A: 'secret_ref:live-aaaaaaaaaaaa:A', G: 'prefix secret_ref:global:G' }), env_schema: [] }));
    await deployments.create(sampleDeployment('gone-bbbbbbbbbbbb', { status: 'deleted' }));
    service = new SecretsService({ secrets, keys, redactor, deployments });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('sets, lists and removes secrets of a deployment and global ones; values never come back', async () => {
    expect(await service.set('live-aaaaaaaaaaaa', 'A', { value: 'alpha-value' })).toMatchObject({ name: 'A' });
    await service.set('global', 'G', { value: 'global-value' });
    expect(await service.list('live-aaaaaaaaaaaa')).toMatchObject({ items: [{ name: 'A' }] });
    expect(JSON.stringify(await service.list('global'))).not.toContain('global-value');
    await service.remove('global', 'G');
    expect(await service.list('global')).toStrictEqual({ items: [] });
    expect((await failure(() => service.remove('global', 'G'))).code).toBe('SECRET_NOT_FOUND');
  });

  it('resolveRef: a git token from a global or the deployment\'s own secret, masked from then on; others refused', async () => {
    await service.set('global', 'GIT_TOKEN', { value: 'ghp-global-token-1' });
    await service.set('live-aaaaaaaaaaaa', 'OWN', { value: 'own-token-value-2' });
    expect(await service.resolveRef('secret_ref:global:GIT_TOKEN', 'spec.source.token', 'live-aaaaaaaaaaaa')).toBe('ghp-global-token-1');
    expect(await service.resolveRef('secret_ref:live-aaaaaaaaaaaa:OWN', 'spec.source.token', 'live-aaaaaaaaaaaa')).toBe('own-token-value-2');
    expect(redactor.redact('x ghp-global-token-1 own-token-value-2', 'live-aaaaaaaaaaaa')).toBe(`x ${REDACTED} ${REDACTED}`);
    expect((await failure(() => service.resolveRef('secret_ref:live-aaaaaaaaaaaa:OWN', 'spec.source.token', 'other-dddddddddddd'))).code).toBe('SECRET_REF_FORBIDDEN');
    expect((await failure(() => service.resolveRef('secret_ref:global:NOPE', 'spec.source.token'))).code).toBe('SECRET_NOT_FOUND');
    expect((await failure(() => service.resolveRef('x secret_ref:global:GIT_TOKEN', 'spec.source.token'))).code).toBe('VALIDATION_FAILED');
  });

  it('refuses unknown or deleted deployments, bad bodies and names, without quoting the value', async () => {
    expect((await failure(() => service.set('nope-cccccccccccc', 'A', { value: 'v-123456' }))).code).toBe('DEPLOYMENT_NOT_FOUND');
    expect((await failure(() => service.list('gone-bbbbbbbbbbbb'))).code).toBe('DEPLOYMENT_NOT_FOUND');
    for (const body of [undefined, {}, { value: '' }, { value: 42 }, { value: 'v', extra: 1 }, { value: 'y'.repeat(64 * 1024 + 1) }]) {
      const err = await failure(() => service.set('global', 'A', body));
      expect(err.code).toBe('VALIDATION_FAILED');
      expect(err.message).not.toContain('yyyyyyyy');
    }
    expect((await failure(() => service.set('global', 'bad-name', { value: 'v-123456' }))).code).toBe('VALIDATION_FAILED');
  });

  it(`holds at most 200 secrets a scope, but a full scope may still replace one`, async () => {
    for (let i = 0; i < 200; i++) await secrets.set('global', `K${i}`, 'v');
    expect((await failure(() => service.set('global', 'ONE_MORE', { value: 'v' }))).message).toContain('200');
    await service.set('global', 'K7', { value: 'replaced' });
    expect(await secrets.get('global', 'K7')).toBe('replaced');
  });

  it('checkRefs: own pending values and existing globals pass; a missing one is SECRET_NOT_FOUND, another deployment\'s SECRET_REF_FORBIDDEN', async () => {
    await secrets.set('global', 'G', 'global-value');
    await service.checkRefs(ID, proc({ A: `secret_ref:${ID}:A`, G: 'secret_ref:global:G' }), [], new Map([['A', 'v']]));
    const missing = await failure(() => service.checkRefs(ID, proc({ X: 'Bearer secret_ref:global:NOPE' }), [], new Map()));
    expect(missing).toMatchObject({ code: 'SECRET_NOT_FOUND', details: { field: 'spec.env.X', ref: 'secret_ref:global:NOPE' } });
    expect(missing.message).toContain('berth secrets set global NOPE');
    const viaDefault = await failure(() => service.checkRefs(ID, proc(), [{ name: 'D', type: 'string', required: false, secret: false, default: 'secret_ref:global:NOPE' }], new Map()));
    expect(viaDefault.code).toBe('SECRET_NOT_FOUND');
    const foreign = await failure(() => service.checkRefs(ID, url({ Authorization: 'secret_ref:live-aaaaaaaaaaaa:A' }), [], new Map()));
    expect(foreign).toMatchObject({ code: 'SECRET_REF_FORBIDDEN', details: { field: 'spec.headers.Authorization' } });
  });

  it('resolve: substitutes values at start, teaches the redactor, and says how to fix a missing one', async () => {
    await secrets.set('live-aaaaaaaaaaaa', 'A', 'alpha-value');
    await secrets.set('global', 'G', 'global-value');
    const env = await launchEnv(live, service.resolve.bind(service));
    expect(env).toStrictEqual({ A: 'alpha-value', G: 'prefix global-value' });
    expect(redactor.redact('alpha-value and global-value', 'live-aaaaaaaaaaaa')).toBe(`${REDACTED} and ${REDACTED}`);
    await secrets.delete('global', 'G');
    const err = await failure(() => launchEnv(live, service.resolve.bind(service)));
    expect(err.code).toBe('SECRET_NOT_FOUND');
    expect(err.message).toBe(
      'spec.env.G needs secret_ref:global:G, which does not exist: set it with "berth secrets set global G", then start the deployment again with "berth start live-aaaaaaaaaaaa"',
    );
  });

  it('dropScope deletes a removed deployment\'s values', async () => {
    await service.storeNew(ID, new Map([['A', 'one-value'], ['B', 'two-value']]));
    expect(await secrets.list(ID)).toHaveLength(2);
    await service.dropScope(ID);
    expect(await secrets.list(ID)).toStrictEqual([]);
  });

  it('rotateKey re-encrypts under a new key file key; with BERTH_MASTER_KEY it is MASTER_KEY_EXTERNAL', async () => {
    await service.set('global', 'G', { value: 'global-value' });
    const result = await service.rotateKey();
    expect(result.reencrypted).toBe(1);
    expect(await secrets.keyUsage()).toStrictEqual({ [result.key_id]: 1 });
    const envKeys = MasterKeys.load({ masterKey: 'a'.repeat(64), keyFile: join(dir, 'unused.key') });
    const envService = new SecretsService({ secrets: memorySecretStore(envKeys.cipher), keys: envKeys, redactor, deployments });
    expect((await failure(() => envService.rotateKey())).code).toBe('MASTER_KEY_EXTERNAL');
  });
});
