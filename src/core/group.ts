/**
 * Groups (virtual servers, issue 13): one MCP endpoint, `/g/NAME/mcp`, in front of several deployments. The tools,
 * prompts and resources of the members are merged under collision-free names (`PREFIX` + separator + name, the
 * prefix being the member's name unless set); a call goes to exactly the member that owns the name.
 */
import { z } from 'zod';
import { BerthError } from './errors.js';

/** A group's name: what its endpoint and the scope `invoke:group:NAME` carry. */
export const GROUP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** What MCP allows in a tool name (and what a prefix, a separator and a rename may use). */
export const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

const toolName = z.string().regex(TOOL_NAME, 'must be 1 to 128 of A-Z a-z 0-9 _ . -');

export const GroupMemberSchema = z.strictObject({
  /** The member deployment, by id or name (stored as its id). */
  deployment: z.string().min(1).max(128),
  /** Put before each of its names (default: the deployment's name). An empty prefix exposes names as they are. */
  prefix: z.string().max(64).regex(/^[A-Za-z0-9_.-]*$/, 'must use only A-Z a-z 0-9 _ . -').optional(),
  /** Only these of its tools (by their own names); absent: all. */
  allow: z.array(toolName).max(1000).optional(),
  /** None of these of its tools. */
  deny: z.array(toolName).max(1000).default([]),
  /** Its tool name → the name the group shows instead (no prefix is added to a renamed tool). */
  rename: z.record(toolName, toolName).default({}),
  /** Its tool name → the description the group shows instead. */
  descriptions: z.record(toolName, z.string().max(4096)).default({}),
});
export type GroupMember = z.infer<typeof GroupMemberSchema>;

export const GroupSpecSchema = z.strictObject({
  members: z.array(GroupMemberSchema).min(1, 'a group needs at least one member').max(64),
  /** Between a member's prefix and its names. */
  separator: z.string().min(1).max(4).regex(/^[A-Za-z0-9_.-]+$/, 'must use only A-Z a-z 0-9 _ . -').default('__'),
  /**
   * `open` (default): a member that is down, failing or too slow to answer is left out of lists (logged, and named
   * in the group's status) and the rest serve; `closed`: the group fails the request instead.
   */
  failure_mode: z.enum(['open', 'closed']).default('open'),
  /**
   * Tool search ("smart routing"): `only` lists two meta-tools, search_tools (BM25 over names, descriptions and
   * parameters) and call_tool, instead of every tool; `also` lists them besides the tools; `off` (default) neither.
   */
  tool_search: z.enum(['off', 'only', 'also']).default('off'),
});
export type GroupSpec = z.infer<typeof GroupSpecSchema>;

export const CreateGroupSchema = z.strictObject({
  name: z.string().regex(GROUP_NAME, 'must be lower-case letters, digits and dashes (at most 63), starting and ending with a letter or digit'),
  description: z.string().max(1024).nullable().default(null),
  access: z.enum(['private', 'public']).default('private'),
  spec: GroupSpecSchema,
});
export type CreateGroup = z.infer<typeof CreateGroupSchema>;

export const UpdateGroupSchema = z.strictObject({
  description: z.string().max(1024).nullable().optional(),
  access: z.enum(['private', 'public']).optional(),
  spec: GroupSpecSchema.optional(),
});
export type UpdateGroup = z.infer<typeof UpdateGroupSchema>;

export interface Group {
  name: string;
  description: string | null;
  access: 'private' | 'public';
  spec: GroupSpec;
  created_at: string;
  updated_at: string;
}

/** What the API shows of a group: its definition, each member's name and prefix, and its endpoint path. */
export interface GroupDetails extends Group {
  endpoint: string;
  members: { deployment: string; name: string | null; prefix: string }[];
}

/** The prefix a member's names get: its own, else the deployment's name. */
export function memberPrefix(m: GroupMember, deploymentName: string): string {
  return m.prefix ?? deploymentName;
}

/** The name the group shows for `tool` of member `m` (named `deploymentName`), or null when the member's lists hide it. */
export function exposedName(m: GroupMember, deploymentName: string, separator: string, tool: string): string | null {
  if (m.allow && !m.allow.includes(tool)) return null;
  if (m.deny.includes(tool)) return null;
  const renamed = m.rename[tool];
  if (renamed !== undefined) return renamed;
  const prefix = memberPrefix(m, deploymentName);
  return prefix === '' ? tool : `${prefix}${separator}${tool}`;
}

/** A group name checked, or GROUP_NOT_FOUND (a malformed name names no group). */
export function checkGroupName(name: string): string {
  if (!GROUP_NAME.test(name)) throw new BerthError('GROUP_NOT_FOUND', `No group named ${JSON.stringify(name.slice(0, 80))}`);
  return name;
}
