import { z } from 'zod';
import { ERROR_CATALOGUE } from '../core/errors.js';
import { CreateDeploymentSchema, SECRET_NAME, SECRET_VALUE_MAX_BYTES } from '../core/spec.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const errorResponses = (...codes: (keyof typeof ERROR_CATALOGUE)[]) =>
  Object.fromEntries(codes.map((c) => [String(ERROR_CATALOGUE[c].status), { description: `${c}: ${ERROR_CATALOGUE[c].message}`, content: json(ref('Error')) }]));
const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];
const keyParam = { name: 'key', in: 'path', required: true, schema: { type: 'string', pattern: SECRET_NAME.source }, description: 'the secret name (KEY of secret_ref:SCOPE:KEY)' };
const secretList = { '200': { description: 'Names and update times, never values', content: json(ref('SecretList')) } };
const secretSet = {
  requestBody: { required: true, content: json(ref('SetSecret')) },
  responses: { '200': { description: 'Stored encrypted; running servers get it at their next start', content: json(ref('SecretInfo')) } },
};

const Deployment = {
  type: 'object',
  required: ['id', 'name', 'status', 'desired', 'spec', 'endpoint', 'request_count', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string', example: 'everything-k3x9f2ab01cd' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    tags: { type: 'array', items: { type: 'string' } },
    env_schema: { type: 'array', items: { type: 'object' } },
    spec: {
      type: 'object',
      description:
        'json_spec: see CreateDeployment.spec. Secrets appear only as references (secret_ref:ID:KEY, secret_ref:global:KEY); a url header value, or a value of an env_schema secret, that is not a reference shows as [redacted]',
    },
    desired: { enum: ['running', 'stopped', 'deleted'] },
    status: { enum: ['pending', 'building', 'pushing', 'deploying', 'running', 'idle', 'stopped', 'failed', 'deleted'] },
    status_message: { type: ['string', 'null'] },
    endpoint: { type: 'string', format: 'uri' },
    request_count: { type: 'integer' },
    last_request_at: { type: ['string', 'null'], format: 'date-time' },
    tools: { type: ['array', 'null'], items: { type: 'object', properties: { name: { type: 'string' }, title: { type: 'string' }, description: { type: 'string' } } } },
    restart_count: { type: 'integer' },
    uptime_s: { type: ['integer', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    started_at: { type: ['string', 'null'], format: 'date-time' },
    stopped_at: { type: ['string', 'null'], format: 'date-time' },
    deleted_at: { type: ['string', 'null'], format: 'date-time' },
  },
};

/** The OpenAPI 3.1 document served at /api/openapi.json. */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Berth control API', version, description: 'Deploy, run and watch MCP servers. MCP clients connect to /s/{id}/mcp (Streamable HTTP).' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Required when BERTH_API_TOKEN is set' } },
      schemas: {
        CreateDeployment: z.toJSONSchema(CreateDeploymentSchema, { io: 'input', unrepresentable: 'any' }),
        Deployment,
        SecretInfo: { type: 'object', required: ['name', 'updated_at'], properties: { name: { type: 'string' }, updated_at: { type: 'string', format: 'date-time' } } },
        SecretList: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref('SecretInfo') } } },
        SetSecret: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: { value: { type: 'string', minLength: 1, description: `the secret value (at most ${SECRET_VALUE_MAX_BYTES} bytes); never returned` } },
        },
        RotateResult: {
          type: 'object',
          required: ['key_id', 'reencrypted'],
          properties: { key_id: { type: 'string', description: 'id (fingerprint) of the new master key' }, reencrypted: { type: 'integer' } },
        },
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { enum: Object.keys(ERROR_CATALOGUE) }, message: { type: 'string' }, details: {} } } },
        },
      },
    },
    security: [{ bearer: [] }, {}],
    paths: {
      '/api/deployments': {
        post: {
          summary: 'Deploy an MCP server',
          requestBody: { required: true, content: json(ref('CreateDeployment')) },
          responses: {
            '201': { description: 'Created; starts in the background', content: json(ref('Deployment')) },
            ...errorResponses('VALIDATION_FAILED', 'SECRET_NOT_FOUND', 'SECRET_REF_FORBIDDEN', 'INVALID_JSON', 'PAYLOAD_TOO_LARGE'),
          },
        },
        get: {
          summary: 'List deployments',
          parameters: [{ name: 'all', in: 'query', schema: { type: 'boolean' }, description: 'include deleted' }],
          responses: { '200': { description: 'Deployments, newest first', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Deployment') } } }) } },
        },
      },
      '/api/deployments/{id}': {
        parameters: idParam,
        get: { summary: 'Get a deployment', responses: { '200': { description: 'The deployment', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
        delete: { summary: 'Delete a deployment (stops it)', responses: { '200': { description: 'Deleted', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
      },
      '/api/deployments/{id}/status': {
        parameters: idParam,
        get: { summary: 'Live status', responses: { '200': { description: 'Status, sessions and processes', content: json({ type: 'object' }) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
      },
      '/api/deployments/{id}/logs': {
        parameters: [
          ...idParam,
          { name: 'tail', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'follow', in: 'query', schema: { type: 'boolean' }, description: 'stream as Server-Sent Events (event: log)' },
        ],
        get: {
          summary: 'Server and lifecycle logs',
          responses: { '200': { description: 'Log entries, or an SSE stream with follow=1', content: { ...json({ type: 'object' }), 'text/event-stream': { schema: { type: 'string' } } } }, ...errorResponses('DEPLOYMENT_NOT_FOUND') },
        },
      },
      '/api/deployments/{id}/stop': { parameters: idParam, post: { summary: 'Stop', responses: { '200': { description: 'Stopped', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } } },
      '/api/deployments/{id}/start': { parameters: idParam, post: { summary: 'Start (or retry a failed one)', responses: { '202': { description: 'Starting', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } } },
      '/api/deployments/{id}/secrets': {
        parameters: idParam,
        get: { summary: "A deployment's secrets (scope deploy)", responses: { ...secretList, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
      },
      '/api/deployments/{id}/secrets/{key}': {
        parameters: [...idParam, keyParam],
        put: { summary: 'Set a secret of a deployment (scope deploy)', ...secretSet, responses: { ...secretSet.responses, ...errorResponses('VALIDATION_FAILED', 'DEPLOYMENT_NOT_FOUND') } },
        delete: { summary: 'Delete a secret of a deployment (scope deploy)', responses: { '204': { description: 'Deleted' }, ...errorResponses('SECRET_NOT_FOUND', 'DEPLOYMENT_NOT_FOUND') } },
      },
      '/api/secrets/global': {
        get: { summary: 'Global secrets, usable by every deployment as secret_ref:global:KEY (scope admin)', responses: secretList },
      },
      '/api/secrets/global/{key}': {
        parameters: [keyParam],
        put: { summary: 'Set a global secret (scope admin)', ...secretSet, responses: { ...secretSet.responses, ...errorResponses('VALIDATION_FAILED') } },
        delete: { summary: 'Delete a global secret (scope admin)', responses: { '204': { description: 'Deleted' }, ...errorResponses('SECRET_NOT_FOUND') } },
      },
      '/api/secrets/rotate-key': {
        post: {
          summary: 'Rotate the master key file: a new key, every value re-encrypted in one transaction (scope admin)',
          responses: { '200': { description: 'Rotated', content: json(ref('RotateResult')) }, ...errorResponses('MASTER_KEY_EXTERNAL', 'SECRET_DECRYPT_FAILED') },
        },
      },
      '/healthz': { get: { summary: 'Berth is up', security: [], responses: { '200': { description: 'ok' } } } },
      '/s/{id}/mcp': {
        parameters: idParam,
        post: { summary: 'MCP Streamable HTTP endpoint of a deployment (JSON-RPC)', security: [], responses: { '200': { description: 'JSON-RPC response (JSON or SSE)' }, '202': { description: 'Accepted' }, ...errorResponses('DEPLOYMENT_NOT_FOUND', 'SESSION_NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'UPSTREAM_UNAVAILABLE') } },
      },
    },
  };
}
