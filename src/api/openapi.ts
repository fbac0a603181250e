import { z } from 'zod';
import { ERROR_CATALOGUE } from '../core/errors.js';
import { CreateDeploymentSchema, SECRET_NAME, SECRET_VALUE_MAX_BYTES } from '../core/spec.js';
import { catalogPaths, catalogSchemas } from './openapi-catalog.js';
import { groupPaths, groupSchemas } from './openapi-groups.js';
import { errorResponses, json, ref } from './openapi-parts.js';
import type { RouteInfo } from './router.js';

const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: "the deployment's id or its name" }];
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
    access: { enum: ['private', 'public'], description: 'private: MCP clients need a token with invoke:ID (or invoke:*); public: anyone' },
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
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token (brt_…). Every route needs one except where security is empty; x-berth-scope names the scope: admin (everything), deploy (deployments and their secrets, and read), read, token (any valid token), invoke (invoke:ID or invoke:* on the deployment addressed, unless it is public).',
        },
      },
      schemas: {
        CreateDeployment: z.toJSONSchema(CreateDeploymentSchema, { io: 'input', unrepresentable: 'any' }),
        Deployment,
        ...catalogSchemas,
        ...groupSchemas,
        Token: {
          type: 'object',
          required: ['id', 'name', 'prefix', 'scopes', 'created_at', 'status'],
          properties: {
            id: { type: 'string', example: 'tok_3kF9xQ2mZp7A' },
            name: { type: 'string' },
            prefix: { type: 'string', description: 'brt_ and the next 4 characters' },
            scopes: { type: 'array', items: { type: 'string', example: 'invoke:everything-k3x9f2ab01cd' } },
            created_at: { type: 'string', format: 'date-time' },
            created_by: { type: 'string' },
            expires_at: { type: ['string', 'null'], format: 'date-time' },
            revoked_at: { type: ['string', 'null'], format: 'date-time' },
            last_used_at: { type: ['string', 'null'], format: 'date-time' },
            status: { enum: ['active', 'expired', 'revoked'] },
          },
        },
        AuditEntry: {
          type: 'object',
          properties: {
            seq: { type: 'integer' },
            at: { type: 'string', format: 'date-time' },
            actor: { type: 'string', description: 'token id, env (BERTH_API_TOKEN), bootstrap or anonymous' },
            actor_name: { type: 'string' },
            action: { type: 'string', example: 'deployment.create' },
            target: { type: ['string', 'null'] },
            source: { type: ['string', 'null'], description: "the client's address" },
            result: { enum: ['ok', 'denied', 'error'] },
            code: { type: ['string', 'null'] },
            detail: { type: ['object', 'null'] },
          },
        },
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
    security: [{ bearer: [] }],
    paths: {
      '/api/deployments': {
        post: {
          summary: 'Deploy an MCP server',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              schema: { type: 'string', maxLength: 255 },
              description: 'A retry with the same key and body gets the first answer (header Idempotent-Replayed: true) instead of a second deployment; the berth CLI always sends one',
            },
          ],
          requestBody: {
            required: true,
            content: {
              ...json(ref('CreateDeployment')),
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['deployment', 'source'],
                  properties: {
                    deployment: { type: 'string', description: 'CreateDeployment as JSON; its spec is a source spec (type and source are set from the upload)' },
                    source: { type: 'string', format: 'binary', description: 'the server\'s code as a ZIP (at most BERTH_SOURCE_MAX_BYTES)' },
                  },
                },
              },
            },
          },
          responses: {
            '201': { description: 'Created; starts in the background', content: json(ref('Deployment')) },
            ...errorResponses('VALIDATION_FAILED', 'NAME_TAKEN', 'IDEMPOTENCY_KEY_REUSED', 'IDEMPOTENCY_IN_PROGRESS', 'SECRET_NOT_FOUND', 'SECRET_REF_FORBIDDEN', 'REMOTE_ADDRESS_FORBIDDEN', 'PACKAGE_NOT_FOUND', 'PACKAGE_SCRIPTS_NOT_ALLOWED', 'PACKAGE_REGISTRY_UNAVAILABLE', 'INVALID_JSON', 'SOURCE_TOO_LARGE', 'SOURCE_NOT_FOUND', 'SOURCE_INVALID', 'ZIP_INVALID'),
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
        patch: {
          summary: 'Change a deployment: a change of spec (a JSON merge patch), env_schema or secrets makes a new revision, rolled out blue-green',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              properties: {
                spec: { type: 'object', description: 'JSON merge patch (RFC 7396) on the current spec: objects merge, null removes, the rest replaces' },
                env_schema: { type: 'array', items: { type: 'object' } },
                secrets: { type: 'object', additionalProperties: { type: 'string' }, description: 'secret values (stored encrypted; spec.env.KEY becomes secret_ref:ID:KEY)' },
                name: { type: 'string' },
                description: { type: ['string', 'null'] },
                tags: { type: 'array', items: { type: 'string' } },
                access: { type: 'string', enum: ['private', 'public'] },
              },
            }),
          },
          responses: {
            '200': { description: 'Only metadata changed (no new revision)', content: json(ref('Deployment')) },
            '202': { description: 'A new revision is rolling out; status shows revision and serving_revision', content: json(ref('Deployment')) },
            ...errorResponses('DEPLOYMENT_NOT_FOUND', 'VALIDATION_FAILED', 'NOTHING_TO_UPDATE', 'NAME_TAKEN', 'SECRET_NOT_FOUND', 'SECRET_REF_FORBIDDEN', 'REMOTE_ADDRESS_FORBIDDEN'),
          },
        },
        delete: {
          summary: 'Delete a deployment: stops it and removes its work folder, secrets and logs',
          parameters: [{ name: 'keep_logs', in: 'query', schema: { type: 'boolean' }, description: 'keep its logs' }],
          responses: { '200': { description: 'Deleted', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') },
        },
      },
      '/api/deployments/{id}/revisions': {
        parameters: idParam,
        get: { summary: 'Revision history, newest first (current and serving marked)', responses: { '200': { description: 'Revisions', content: json({ type: 'object' }) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
      },
      '/api/deployments/{id}/redeploy': {
        parameters: idParam,
        post: { summary: 'New revision with the same spec (fresh processes, secrets resolved again), blue-green', responses: { '202': { description: 'Rolling out', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
      },
      '/api/deployments/{id}/source': {
        parameters: idParam,
        put: {
          summary: 'New revision of a source deployment from a new ZIP (stored, detected, rolled out blue-green)',
          requestBody: { required: true, content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '202': { description: 'Rolling out', content: json(ref('Deployment')) },
            '200': { description: 'Same source as now: nothing to roll out', content: json(ref('Deployment')) },
            ...errorResponses('DEPLOYMENT_NOT_FOUND', 'UNSUPPORTED_MEDIA_TYPE', 'SOURCE_TOO_LARGE', 'SOURCE_INVALID', 'ZIP_INVALID', 'ZIP_PATH_TRAVERSAL'),
          },
        },
      },
      '/api/sources': {
        post: {
          summary: 'Store a source ZIP and detect what it is (berth deploy --dry-run): its digest for a source spec, and the detection report',
          requestBody: { required: true, content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } } },
          responses: {
            '201': {
              description: 'Stored (the same content gets the same digest); report.problems non-empty means a deployment of it would be refused with SOURCE_INVALID',
              content: json({
                type: 'object',
                required: ['digest', 'files', 'bytes', 'report'],
                properties: {
                  digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
                  files: { type: 'integer' },
                  bytes: { type: 'integer' },
                  report: { type: 'object', properties: { plan: { type: ['object', 'null'] }, findings: { type: 'array' }, warnings: { type: 'array' }, problems: { type: 'array' } } },
                },
              }),
            },
            ...errorResponses('UNSUPPORTED_MEDIA_TYPE', 'SOURCE_TOO_LARGE', 'ZIP_INVALID', 'ZIP_PATH_TRAVERSAL', 'ZIP_ABSOLUTE_PATH', 'ZIP_SYMLINK', 'ZIP_TOO_MANY_ENTRIES'),
          },
        },
      },
      '/api/deployments/{id}/rollback': {
        parameters: idParam,
        post: {
          summary: 'New revision copying an earlier one (default: the newest earlier one that differs), blue-green',
          requestBody: { required: false, content: json({ type: 'object', properties: { revision: { type: 'integer', minimum: 1 } } }) },
          responses: { '202': { description: 'Rolling out', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND', 'REVISION_NOT_FOUND') },
        },
      },
      '/api/deployments/{id}/restart': {
        parameters: idParam,
        post: { summary: 'Restart on the current revision; a failed deployment is retried at once', responses: { '202': { description: 'Restarting', content: json(ref('Deployment')) }, ...errorResponses('DEPLOYMENT_NOT_FOUND') } },
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
      '/': { get: { summary: 'What this is', responses: { '200': { description: 'name, version and where the API and MCP endpoints are' } } } },
      '/healthz': {
        get: {
          summary: 'Berth is up, and whether it leads (holds the reconciler lease) or stands by',
          responses: {
            '200': {
              description: 'ok',
              content: json({ type: 'object', required: ['status', 'version', 'uptime_s', 'role'], properties: { status: { const: 'ok' }, version: { type: 'string' }, uptime_s: { type: 'integer' }, role: { enum: ['leader', 'standby'] } } }),
            },
          },
        },
      },
      '/api/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/api/whoami': { get: { summary: 'The token this request was made with', responses: { '200': { description: 'id, name and scopes', content: json({ type: 'object' }) }, ...errorResponses('UNAUTHORIZED') } } },
      '/api/tokens': {
        post: {
          summary: 'Create an API token; the answer is the only time the token is shown',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['scopes'],
              properties: {
                name: { type: 'string' },
                scopes: { type: 'array', items: { type: 'string' }, description: 'admin, deploy, read, invoke:*, invoke:ID' },
                expires_in: { type: 'string', example: '30d', description: 'm, h, d, w or y' },
                expires_at: { type: 'string', format: 'date-time' },
              },
            }),
          },
          responses: { '201': { description: 'The token (field token) and its record', content: json(ref('Token')) }, ...errorResponses('VALIDATION_FAILED', 'FORBIDDEN') },
        },
        get: { summary: 'List tokens (never the tokens themselves)', responses: { '200': { description: 'Tokens, oldest first', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Token') } } }) } } },
      },
      '/api/tokens/{id}': {
        parameters: idParam,
        delete: { summary: 'Revoke a token at once', responses: { '200': { description: 'Revoked', content: json(ref('Token')) }, ...errorResponses('TOKEN_NOT_FOUND') } },
      },
      '/api/audit': {
        get: {
          summary: 'Query or export the audit log (every change and every refused credential)',
          parameters: ['since', 'until', 'actor', 'action', 'target', 'result', 'after', 'limit', 'format'].map((name) => ({ name, in: 'query', schema: { type: 'string' } })),
          responses: {
            '200': { description: 'Entries oldest first; format=ndjson or csv exports them', content: { ...json({ type: 'object', properties: { items: { type: 'array', items: ref('AuditEntry') } } }), 'application/x-ndjson': { schema: { type: 'string' } }, 'text/csv': { schema: { type: 'string' } } } },
            ...errorResponses('VALIDATION_FAILED'),
          },
        },
      },
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
      ...catalogPaths,
      ...groupPaths,
      '/s/{id}/mcp': {
        parameters: idParam,
        post: { summary: 'MCP Streamable HTTP endpoint of a deployment (JSON-RPC)', responses: { '200': { description: 'JSON-RPC response (JSON or SSE)' }, '202': { description: 'Accepted' }, ...errorResponses('DEPLOYMENT_NOT_FOUND', 'SESSION_NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'UPSTREAM_UNAVAILABLE', 'STANDBY') } },
      },
    },
  };
}

/**
 * Marks every operation of `doc` with the scope its route needs (`x-berth-scope`), and public ones
 * with `security: []`, from the router's own table; returns the routes the document lacks.
 */
export function annotateScopes(doc: Record<string, unknown>, routes: readonly RouteInfo[]): string[] {
  const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
  const missing: string[] = [];
  for (const r of routes) {
    const op = paths[r.path.replace(/:([a-zA-Z]+)/g, '{$1}')]?.[r.method.toLowerCase()];
    if (!op) {
      missing.push(`${r.method} ${r.path}`);
      continue;
    }
    op['x-berth-scope'] = r.need;
    if (r.need === 'public') op.security = [];
  }
  return missing;
}
