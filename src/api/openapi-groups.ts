/** The groups' part of the OpenAPI document (src/api/openapi.ts spreads it in). */
import { z } from 'zod';
import { CreateGroupSchema, GROUP_NAME, UpdateGroupSchema } from '../core/group.js';
import { errorResponses, json, ref } from './openapi-parts.js';

const nameParam = [{ name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: GROUP_NAME.source }, description: "the group's name (its endpoint is /g/NAME/mcp)" }];

export const groupSchemas = {
  Group: {
    type: 'object',
    required: ['name', 'access', 'spec', 'endpoint', 'members', 'created_at', 'updated_at'],
    properties: {
      name: { type: 'string', example: 'tools' },
      description: { type: ['string', 'null'] },
      access: { enum: ['private', 'public'], description: 'private: tokens with invoke:group:NAME (or invoke:*); public: anyone' },
      spec: { type: 'object', description: 'members (deployment ids), separator, failure_mode' },
      endpoint: { type: 'string', example: '/g/tools/mcp' },
      members: { type: 'array', items: { type: 'object', properties: { deployment: { type: 'string' }, name: { type: ['string', 'null'] }, prefix: { type: 'string' } } } },
      troubles: { type: 'object', additionalProperties: { type: 'string' }, description: 'members the last listings left out, and why (GET /api/groups/NAME only)' },
      created_at: { type: 'string', format: 'date-time' },
      updated_at: { type: 'string', format: 'date-time' },
    },
  },
  CreateGroup: z.toJSONSchema(CreateGroupSchema, { io: 'input', unrepresentable: 'any' }),
  UpdateGroup: z.toJSONSchema(UpdateGroupSchema, { io: 'input', unrepresentable: 'any' }),
};

export const groupPaths = {
  '/api/groups': {
    get: { summary: 'List the groups', responses: { '200': { description: 'Groups', content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Group') } } }) } } },
    post: {
      summary: 'Create a group: one MCP endpoint (/g/NAME/mcp) over several deployments',
      requestBody: { required: true, content: json(ref('CreateGroup')) },
      responses: { '201': { description: 'Created', content: json(ref('Group')) }, ...errorResponses('VALIDATION_FAILED', 'GROUP_EXISTS') },
    },
  },
  '/api/groups/{name}': {
    parameters: nameParam,
    get: { summary: 'A group, with the members its last listings left out', responses: { '200': { description: 'The group', content: json(ref('Group')) }, ...errorResponses('GROUP_NOT_FOUND') } },
    patch: {
      summary: "Change a group's members, options, access or description (open sessions are told its lists changed)",
      requestBody: { required: true, content: json(ref('UpdateGroup')) },
      responses: { '200': { description: 'Updated', content: json(ref('Group')) }, ...errorResponses('VALIDATION_FAILED', 'GROUP_NOT_FOUND', 'NOTHING_TO_UPDATE') },
    },
    delete: { summary: 'Remove a group (its sessions end; the members stay)', responses: { '204': { description: 'Removed' }, ...errorResponses('GROUP_NOT_FOUND') } },
  },
};
