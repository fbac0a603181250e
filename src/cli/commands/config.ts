/** `berth config import FILE` and `berth config export --client claude|cursor|vscode [--group NAME]`. */
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { ApiClientError } from '../api-client.js';
import { CLIENT_KINDS, isClientKind, exportConfig, planImport, thisBerth, type ExportTarget } from '../client-config.js';
import type { CliContext, Runner } from '../context.js';
import { CliFailure, withApiOptions } from '../context.js';
import { renderTable } from '../format.js';

const MAX_FILE = 1024 * 1024;

async function importFile(ctx: CliContext, file: string, opts: { dryRun?: boolean; start: boolean; packageCache: boolean }): Promise<void> {
  let text: string;
  try {
    if ((await stat(file)).size > MAX_FILE) throw new CliFailure(`${file} is larger than ${MAX_FILE} bytes`, { exitCode: 2 });
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof CliFailure) throw err;
    throw new CliFailure(`cannot read ${file}: ${(err as Error).message}`, { exitCode: 2 });
  }
  let plan;
  try {
    plan = planImport(text, { packageCache: opts.packageCache, start: opts.start });
  } catch (err) {
    throw new CliFailure(`${file}: ${(err as Error).message}`, { exitCode: 2 });
  }
  const rows: { name: string; result: string; detail: string }[] = [];
  for (const d of plan.deployments) {
    const what = d.body.spec.type === 'package' ? `${d.body.spec.registry} ${d.body.spec.name}` : d.body.spec.type === 'url' ? `url ${d.body.spec.endpoint}` : `command ${d.body.spec.type === 'process' ? d.body.spec.command : ''}`;
    const notes = [what, ...(d.secrets.length > 0 ? [`secrets: ${d.secrets.join(', ')}`] : []), ...(d.unresolved.length > 0 ? [`left stopped: set ${d.unresolved.join(', ')} (berth secrets set ${d.name} NAME), then berth start ${d.name}`] : [])];
    if (opts.dryRun) {
      rows.push({ name: d.name, result: 'would import', detail: notes.join('; ') });
      continue;
    }
    try {
      const made = await ctx.client.createDeployment(d.body);
      rows.push({ name: d.name, result: 'imported', detail: [`${made.id}`, ...notes].join('; ') });
    } catch (err) {
      rows.push({ name: d.name, result: 'skipped', detail: err instanceof ApiClientError ? `${err.code}: ${err.message}` : String(err) });
    }
  }
  for (const s of plan.skipped) rows.push({ name: s.name, result: 'skipped', detail: s.why });
  for (const g of plan.groups) {
    const members = g.members.filter((m) => opts.dryRun || rows.some((r) => r.name === m && r.result === 'imported'));
    if (opts.dryRun) {
      rows.push({ name: `group ${g.name}`, result: 'would import', detail: members.join(', ') });
      continue;
    }
    if (members.length === 0) {
      rows.push({ name: `group ${g.name}`, result: 'skipped', detail: 'none of its servers was imported' });
      continue;
    }
    try {
      await ctx.client.createGroup({ name: g.name, spec: { members: members.map((m) => ({ deployment: m })) } });
      rows.push({ name: `group ${g.name}`, result: 'imported', detail: `/g/${g.name}/mcp: ${members.join(', ')}` });
    } catch (err) {
      rows.push({ name: `group ${g.name}`, result: 'skipped', detail: err instanceof ApiClientError ? `${err.code}: ${err.message}` : String(err) });
    }
  }
  if (ctx.json) return ctx.printJson({ format: plan.format, items: rows });
  ctx.out(renderTable(['NAME', 'RESULT', 'DETAIL'], rows.map((r) => [r.name, r.result, r.detail])));
  const n = rows.filter((r) => r.result === 'imported').length;
  ctx.out('');
  ctx.out(opts.dryRun ? `Nothing was changed (--dry-run): ${rows.filter((r) => r.result === 'would import').length} would be imported.` : `${n} imported, ${rows.length - n} skipped.`);
}

async function exportTargets(ctx: CliContext, group?: string): Promise<ExportTarget[]> {
  if (group) {
    const g = await ctx.client.getGroup(group);
    return [{ label: g.name, connect: `group:${g.name}`, url: `${ctx.client.baseUrl}${g.endpoint}` }];
  }
  const { items } = await ctx.client.listDeployments();
  return items.map((d) => ({ label: d.name, connect: d.id, url: `${ctx.client.baseUrl}/s/${d.id}/mcp` }));
}

export function registerConfig(program: Command, run: Runner): void {
  const config = program.command('config').description('client configs in and out: import mcpServers JSON (Claude Desktop, Cursor, VS Code, MCPHub), export one for Berth\'s endpoints');

  withApiOptions(
    config
      .command('import')
      .description('deploy every server of a client config (claude_desktop_config.json, .cursor/mcp.json, .vscode/mcp.json, MCPHub mcp_settings.json)')
      .argument('<file>', 'the config file')
      .option('--dry-run', 'show what would be imported, change nothing')
      .option('--no-start', 'leave the imported deployments stopped')
      .option('--no-package-cache', 'keep npx/uvx commands as commands (default: run the package from the cache)'),
  ).action((file: string, opts: { dryRun?: boolean; start: boolean; packageCache: boolean }, cmd: Command) => run(cmd, (ctx) => importFile(ctx, file, opts)));

  withApiOptions(
    config
      .command('export')
      .description("print a client's config for Berth's endpoints (every deployment, or one group)")
      .requiredOption('--client <kind>', CLIENT_KINDS.join(', '))
      .option('--group <name>', 'only this group')
      .option('--mint-token', 'create a token scoped to exactly these endpoints and write it into the config (it is a secret)'),
  ).action((opts: { client: string; group?: string; mintToken?: boolean }, cmd: Command) =>
    run(cmd, async (ctx) => {
      if (!isClientKind(opts.client)) throw new CliFailure(`--client must be one of ${CLIENT_KINDS.join(', ')}`, { exitCode: 2 });
      const targets = await exportTargets(ctx, opts.group);
      if (targets.length === 0) throw new CliFailure('nothing to export: no deployments yet', { exitCode: 1 });
      let token: string | undefined;
      if (opts.mintToken) {
        const scopes = targets.map((t) => `invoke:${t.connect}`);
        token = (await ctx.client.createToken({ name: `config export (${opts.client})`, scopes })).token;
        ctx.err(`Created a token scoped to ${scopes.join(', ')}; the config below holds it: keep it private.`);
      }
      ctx.out(JSON.stringify(exportConfig(opts.client, targets, thisBerth(ctx.client.baseUrl, token)), null, 2));
    }),
  );
}
