/** `berth group create|ls|show|update|rm`: groups of servers behind one endpoint (/g/NAME/mcp). */
import type { Command } from 'commander';
import type { GroupDetails, GroupWithTroubles } from '../../api/contract.js';
import type { CliContext, Runner } from '../context.js';
import { CliFailure, withApiOptions } from '../context.js';
import { absoluteEndpoint, renderTable } from '../format.js';

interface MemberFlags {
  server?: string[];
  prefix?: string[];
  deny?: string[];
  allow?: string[];
  separator?: string;
  failClosed?: boolean;
  toolSearch?: string;
}

const collect = (v: string, all: string[] = []): string[] => [...all, v];

/** `NAME=VALUE` of a per-member flag (`--prefix fs=files`, `--deny fs=write_file`). */
function perMember(flag: string, values: string[] = []): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new CliFailure(`--${flag} takes SERVER=VALUE (got ${JSON.stringify(v)})`, { exitCode: 2 });
    out.set(v.slice(0, eq), [...(out.get(v.slice(0, eq)) ?? []), v.slice(eq + 1)]);
  }
  return out;
}

/** The group spec the flags describe. */
export function groupSpecOf(flags: MemberFlags): Record<string, unknown> {
  const servers = flags.server ?? [];
  if (servers.length === 0) throw new CliFailure('name at least one member with --server NAME (repeat it for each)', { exitCode: 2 });
  const prefix = perMember('prefix', flags.prefix);
  const deny = perMember('deny', flags.deny);
  const allow = perMember('allow', flags.allow);
  for (const m of [...prefix.keys(), ...deny.keys(), ...allow.keys()]) {
    if (!servers.includes(m)) throw new CliFailure(`${m} is not one of the --server members (${servers.join(', ')})`, { exitCode: 2 });
  }
  return {
    members: servers.map((s) => ({
      deployment: s,
      ...(prefix.has(s) ? { prefix: prefix.get(s)!.at(-1) } : {}),
      ...(deny.has(s) ? { deny: deny.get(s) } : {}),
      ...(allow.has(s) ? { allow: allow.get(s) } : {}),
    })),
    ...(flags.separator === undefined ? {} : { separator: flags.separator }),
    ...(flags.failClosed ? { failure_mode: 'closed' } : {}),
    ...(flags.toolSearch === undefined ? {} : { tool_search: flags.toolSearch }),
  };
}

function memberOptions(cmd: Command): Command {
  return cmd
    .option('--server <name>', 'a member deployment (name or id); repeat for each', collect)
    .option('--prefix <server=prefix>', "a member's prefix (default: its name; empty: none)", collect)
    .option('--deny <server=tool>', 'hide a tool of a member; repeat', collect)
    .option('--allow <server=tool>', 'show only these tools of a member; repeat', collect)
    .option('--separator <text>', 'between prefix and name (default __)')
    .option('--fail-closed', 'a member that fails fails the listing (default: it is left out)')
    .option('--tool-search <mode>', 'only: list search_tools and call_tool instead of every tool; also: besides them; off (default)');
}

function printGroup(ctx: CliContext, g: GroupDetails | GroupWithTroubles): void {
  if (ctx.json) return ctx.printJson(g);
  ctx.out(`${g.name}  ${absoluteEndpoint(g.endpoint, ctx.client.baseUrl)}  (${g.access}, failure mode ${g.spec.failure_mode})`);
  if (g.description) ctx.out(g.description);
  const troubles = 'troubles' in g ? g.troubles : {};
  ctx.out('');
  ctx.out(
    renderTable(
      ['MEMBER', 'PREFIX', 'DENY', 'ALLOW', 'STATE'],
      g.spec.members.map((m, i) => [g.members[i]?.name ?? m.deployment, g.members[i]?.prefix ?? '', m.deny.join(',') || '-', m.allow?.join(',') ?? 'all', troubles[m.deployment] ? `left out: ${troubles[m.deployment]}` : 'ok']),
    ),
  );
  if (g.access === 'private') ctx.out(`\nClients need a token: berth tokens create --scope invoke:group:${g.name}`);
}

export function registerGroup(program: Command, run: Runner): void {
  const group = program
    .command('group')
    .description('groups of servers behind one endpoint (/g/NAME/mcp): names merged as SERVER__TOOL, each call sent to its server')
    .addHelpText(
      'after',
      `
Examples:
  berth group create tools --server fs --server memory
  berth group create safe --server fs --deny fs=write_file --prefix memory=kg --server memory
  berth group ls
  berth group show tools
  berth group update tools --server fs --server memory --server fetch
  berth group rm tools`,
    );

  withApiOptions(memberOptions(group.command('create').description('make a group').argument('<name>', 'its name: /g/NAME/mcp').option('--description <text>', 'what it is for').option('--public', 'anyone may call it (default: tokens with invoke:group:NAME)'))).action(
    (name: string, opts: MemberFlags & { description?: string; public?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const g = await ctx.client.createGroup({ name, ...(opts.description ? { description: opts.description } : {}), ...(opts.public ? { access: 'public' } : {}), spec: groupSpecOf(opts) });
        printGroup(ctx, g);
      }),
  );

  withApiOptions(group.command('ls').alias('list').description('list the groups')).action((_opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const { items } = await ctx.client.listGroups();
      if (ctx.json) return ctx.printJson({ items });
      if (items.length === 0) return ctx.out('No groups yet: berth group create NAME --server A --server B');
      ctx.out(renderTable(['NAME', 'MEMBERS', 'ACCESS', 'ENDPOINT'], items.map((g) => [g.name, g.members.map((m) => m.name ?? m.deployment).join(', '), g.access, absoluteEndpoint(g.endpoint, ctx.client.baseUrl)])));
    }),
  );

  withApiOptions(group.command('show').description('a group: members, prefixes, and members its last listings left out').argument('<name>', 'group name')).action((name: string, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => printGroup(ctx, await ctx.client.getGroup(name))),
  );

  withApiOptions(memberOptions(group.command('update').description('replace a group\'s members and options (open sessions are told the lists changed)').argument('<name>', 'group name'))).action(
    (name: string, opts: MemberFlags, cmd: Command) => run(cmd, async (ctx) => printGroup(ctx, await ctx.client.updateGroup(name, { spec: groupSpecOf(opts) }))),
  );

  withApiOptions(group.command('rm').alias('remove').description('remove a group (its members stay)').argument('<name>', 'group name')).action((name: string, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      await ctx.client.deleteGroup(name);
      if (!ctx.json) ctx.out(`Removed group ${name}.`);
    }),
  );
}
