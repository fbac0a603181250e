import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../core/errors.js';
import { openApiDocument } from './openapi.js';

type Operation = { summary: string; responses: Record<string, { description: string }>; requestBody?: unknown };

describe('the OpenAPI document', () => {
  const doc = openApiDocument('test') as { paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };

  it('describes every secrets route, with the scope each needs and no place for a value in an answer', () => {
    const ops = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => k !== 'parameters').map((m) => `${m.toUpperCase()} ${path}`));
    for (const op of [
      'GET /api/deployments/{id}/secrets',
      'PUT /api/deployments/{id}/secrets/{key}',
      'DELETE /api/deployments/{id}/secrets/{key}',
      'GET /api/secrets/global',
      'PUT /api/secrets/global/{key}',
      'DELETE /api/secrets/global/{key}',
      'POST /api/secrets/rotate-key',
    ]) {
      expect(ops).toContain(op);
    }
    expect(doc.paths['/api/secrets/rotate-key']!.post!.responses['409']!.description).toContain('MASTER_KEY_EXTERNAL');
    for (const [path, scope] of [['/api/deployments/{id}/secrets/{key}', 'deploy'], ['/api/secrets/global/{key}', 'admin']] as const) {
      for (const method of ['put', 'delete']) expect(doc.paths[path]![method]!.summary).toContain(`(scope ${scope})`);
    }
    expect(Object.keys(doc.components.schemas.SecretInfo!.properties!)).toStrictEqual(['name', 'updated_at']);
    expect(doc.components.schemas.CreateDeployment!.properties).toHaveProperty('secrets');
  });

  it('names only codes of the catalogue', () => {
    const described = JSON.stringify(doc.paths).match(/"description":"[A-Z_]+:/g) ?? [];
    expect(described.length).toBeGreaterThan(10);
    for (const d of described) expect(Object.keys(ERROR_CATALOGUE)).toContain(d.slice(15, -1));
  });
});
