import { z } from 'zod';
import { ERROR_CATALOGUE } from '../core/errors.js';
import { CreateDeploymentSchema } from '../core/spec.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
/** Error responses by HTTP status; codes that share a status share its description. */
const errorResponses = (...codes: (keyof typeof ERROR_CATALOGUE)[]) => {
  const out: Record<string, { description: string; content: unknown }> = {};
  for (const c of codes) {
    const status = String(ERROR_CATALOGUE[c].status);
    const line = `${c}: ${ERROR_CATALOGUE[c].message}`;
    out[status] = { description: out[status] ? `${out[status].description}; ${line}` : line, content: json(ref('Error')) };
  }
  return out;
};
const idParam = [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }];

const Deployment = {
  type: 'object',
  required: ['id', 'name', 'status', 'desired', 'spec', 'endpoint', 'request_count', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string', example: 'everything-k3x9f2ab01cd' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    tags: { type: 'array', items: { type: 'string' } },
    env_schema: { type: 'array', items: { type: 'object' } },
    spec: { type: 'object', description: 'json_spec: see CreateDeployment.spec' },
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
          responses: { '201': { description: 'Created; starts in the background', content: json(ref('Deployment')) }, ...errorResponses('VALIDATION_FAILED', 'INVALID_JSON', 'REMOTE_ADDRESS_FORBIDDEN', 'PAYLOAD_TOO_LARGE') },
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
      '/healthz': { get: { summary: 'Berth is up', security: [], responses: { '200': { description: 'ok' } } } },
      '/s/{id}/mcp': {
        parameters: idParam,
        post: { summary: 'MCP Streamable HTTP endpoint of a deployment (JSON-RPC)', security: [], responses: { '200': { description: 'JSON-RPC response (JSON or SSE)' }, '202': { description: 'Accepted' }, ...errorResponses('DEPLOYMENT_NOT_FOUND', 'SESSION_NOT_FOUND', 'PAYLOAD_TOO_LARGE', 'UPSTREAM_UNAVAILABLE') } },
      },
    },
  };
}
