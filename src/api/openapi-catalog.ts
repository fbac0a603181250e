/** The catalog's part of the OpenAPI document (src/api/openapi.ts spreads it in). */
import { z } from 'zod';
import { CatalogDeploySchema } from '../control/catalog.js';
import { errorResponses as errors, json, ref } from './openapi-parts.js';

const nameParam = [{ name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }, description: 'the template\'s short name (catalog:NAME)' }];

export const catalogSchemas = {
  CatalogEntry: {
    type: 'object',
    required: ['name', 'source', 'server'],
    properties: {
      name: { type: 'string', example: 'memory' },
      source: { enum: ['builtin', 'operator'], description: 'builtin: shipped with Berth (cannot be removed); operator: added with POST /api/catalog' },
      server: { type: 'object', description: 'The MCP registry server.json (static.modelcontextprotocol.io/schemas/…/server.schema.json): packages (npm, pypi, oci) and remotes' },
    },
  },
  CatalogDeploy: z.toJSONSchema(CatalogDeploySchema, { io: 'input', unrepresentable: 'any' }),
};

export const catalogPaths = {
  '/api/catalog': {
    get: {
      summary: 'List the catalog\'s templates (built-in and the operator\'s)',
      parameters: [{ name: 'q', in: 'query', schema: { type: 'string', maxLength: 200 }, description: 'keep templates whose name, title or description has this' }],
      responses: { '200': { description: 'Templates', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('CatalogEntry') } } }) }, ...errors('VALIDATION_FAILED') },
    },
    post: {
      summary: 'Add an operator template (a server.json); its name comes from ?name= or the server.json name',
      parameters: [{ name: 'name', in: 'query', schema: { type: 'string' }, description: 'the short name (default: derived from server.json\'s name, e.g. server-memory → memory)' }],
      requestBody: { required: true, content: json({ type: 'object', description: 'server.json' }) },
      responses: { '201': { description: 'Added', content: json(ref('CatalogEntry')) }, ...errors('CATALOG_ENTRY_INVALID', 'CATALOG_ENTRY_EXISTS', 'INVALID_JSON', 'PAYLOAD_TOO_LARGE') },
    },
  },
  '/api/catalog/{name}': {
    parameters: nameParam,
    get: { summary: 'One template', responses: { '200': { description: 'The template', content: json(ref('CatalogEntry')) }, ...errors('CATALOG_ENTRY_NOT_FOUND') } },
    delete: { summary: 'Remove an operator template (built-in ones cannot be removed)', responses: { '200': { description: 'Removed', content: json(ref('CatalogEntry')) }, ...errors('CATALOG_ENTRY_NOT_FOUND', 'CATALOG_ENTRY_BUILTIN') } },
  },
  '/api/catalog/{name}/deploy': {
    parameters: nameParam,
    post: {
      summary: 'Deploy a template: npm/pypi → a package deployment, oci → an image, a remote → a url deployment; its environmentVariables become env_schema',
      parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 }, description: 'as for POST /api/deployments' }],
      requestBody: { required: false, content: json(ref('CatalogDeploy')) },
      responses: {
        '201': { description: 'Created; starts in the background', content: json(ref('Deployment')) },
        ...errors('CATALOG_ENTRY_NOT_FOUND', 'VALIDATION_FAILED', 'NAME_TAKEN', 'SECRET_NOT_FOUND', 'PACKAGE_NOT_FOUND', 'PACKAGE_REGISTRY_UNAVAILABLE', 'REMOTE_ADDRESS_FORBIDDEN', 'IDEMPOTENCY_KEY_REUSED'),
      },
    },
  },
};
