/** `berth catalog [search TERM]`, `berth catalog show NAME`, `berth catalog add server.json`, `berth catalog rm NAME`. */
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import type { CatalogEntry } from '../../api/contract.js';
import type { CliContext, Runner } from '../context.js';
import { CliFailure, withApiOptions } from '../context.js';
import { renderTable } from '../format.js';

const MAX_FILE = 256 * 1024;

/** What a template deploys: `npm @scope/pkg@1.2`, `pypi mcp-server-time`, `oci image:tag`, `remote https://…`. */
export function templateKind(e: CatalogEntry): string {
  const p = e.server.packages?.find((x) => ['npm', 'pypi'].includes(x.registryType)) ?? e.server.packages?.find((x) => x.registryType === 'oci');
  if (p) return `${p.registryType} ${p.identifier}${p.version ? `@${p.version}` : ''}`;
  const r = e.server.remotes?.[0];
  return r ? `remote ${r.url}` : '-';
}

function printList(ctx: CliContext, items: CatalogEntry[], empty: string): void {
  if (ctx.json) return ctx.printJson({ items });
  if (items.length === 0) return ctx.out(empty);
  ctx.out(renderTable(['NAME', 'SOURCE', 'DEPLOYS', 'DESCRIPTION'], items.map((e) => [e.name, e.source, templateKind(e), e.server.description.length > 70 ? `${e.server.description.slice(0, 69)}…` : e.server.description])));
  ctx.out('');
  ctx.out('Deploy one with: berth deploy catalog:NAME');
}

function printEntry(ctx: CliContext, e: CatalogEntry): void {
  if (ctx.json) return ctx.printJson(e);
  const s = e.server;
  ctx.out(`${e.name}  (${s.name}${s.version ? ` ${s.version}` : ''}, ${e.source})`);
  if (s.title) ctx.out(`Title:       ${s.title}`);
  ctx.out(`Description: ${s.description}`);
  ctx.out(`Deploys:     ${templateKind(e)}`);
  if (s.repository?.url) ctx.out(`Repository:  ${s.repository.url}${s.repository.subfolder ? ` (${s.repository.subfolder})` : ''}`);
  const p = s.packages?.find((x) => ['npm', 'pypi', 'oci'].includes(x.registryType));
  const vars = p?.environmentVariables ?? [];
  if (vars.length > 0) {
    ctx.out('');
    ctx.out(renderTable(['ENV', 'REQUIRED', 'SECRET', 'DEFAULT', 'DESCRIPTION'], vars.map((v) => [v.name, v.isRequired ? 'yes' : 'no', v.isSecret ? 'yes' : 'no', v.isSecret ? '' : (v.default ?? ''), v.description ?? ''])));
  }
  const args = p?.packageArguments ?? [];
  if (args.length > 0) {
    ctx.out('');
    ctx.out(renderTable(['ARGUMENT', 'REQUIRED', 'VALUE', 'DESCRIPTION'], args.map((a) => [a.type === 'named' ? a.name : `<${a.valueHint ?? 'value'}>`, a.isRequired ? 'yes' : 'no', a.value ?? a.default ?? '', a.description ?? ''])));
  }
  ctx.out('');
  const secret = vars.find((v) => v.isSecret && v.isRequired);
  ctx.out(`Deploy it with: berth deploy catalog:${e.name}${vars.filter((v) => v.isRequired && !v.isSecret).map((v) => ` -e ${v.name}=…`).join('')}${secret ? ` --secret ${secret.name}` : ''}${requiredArgs(args)}`);
}

/** ` -- <directory>` for the required arguments a template leaves to the user. */
function requiredArgs(args: NonNullable<NonNullable<CatalogEntry['server']['packages']>[number]['packageArguments']>): string {
  const open = args.filter((a) => a.isRequired && a.value === undefined && a.default === undefined);
  if (open.length === 0) return '';
  return ` -- ${open.map((a) => (a.type === 'named' ? `${a.name} VALUE` : `<${a.valueHint ?? 'value'}>`)).join(' ')}`;
}

export function registerCatalog(program: Command, run: Runner): void {
  const catalog = withApiOptions(
    program
      .command('catalog')
      .description('templates of well-known MCP servers (server.json): list, search, show, add, remove; deploy with berth deploy catalog:NAME')
      .addHelpText(
        'after',
        `
Examples:
  berth catalog                              # every template
  berth catalog search memory
  berth catalog show memory
  berth deploy catalog:memory
  berth catalog add ./server.json --name weather    # an operator template (admin)
  berth catalog rm weather`,
      ),
  ).action((_opts: unknown, cmd: Command) => run(cmd, async (ctx) => printList(ctx, (await ctx.client.listCatalog()).items, 'The catalog is empty.')));

  withApiOptions(catalog.command('search').description('templates whose name, title or description has TERM').argument('<term>', 'what to look for')).action((term: string, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => printList(ctx, (await ctx.client.listCatalog(term)).items, `No template matches ${JSON.stringify(term)}; see them all with: berth catalog`)),
  );

  withApiOptions(catalog.command('show').description('one template: what it deploys, its environment variables and arguments').argument('<name>', 'template name')).action((name: string, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => printEntry(ctx, await ctx.client.getCatalogEntry(name))),
  );

  withApiOptions(catalog.command('add').description('add a template from a server.json file (admin)').argument('<file>', 'a server.json').option('--name <name>', 'its short name (default: from server.json\'s name)')).action(
    (file: string, opts: { name?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        let value: unknown;
        try {
          if ((await stat(file)).size > MAX_FILE) throw new CliFailure(`${file} is larger than ${MAX_FILE} bytes`, { exitCode: 2 });
          value = JSON.parse(await readFile(file, 'utf8'));
        } catch (err) {
          if (err instanceof CliFailure) throw err;
          throw new CliFailure(`cannot read ${file} as JSON: ${(err as Error).message}`, { exitCode: 2 });
        }
        const entry = await ctx.client.addCatalogEntry(value, opts.name);
        if (ctx.json) return ctx.printJson(entry);
        ctx.out(`Added ${entry.name} (${templateKind(entry)}); deploy it with: berth deploy catalog:${entry.name}`);
      }),
  );

  withApiOptions(catalog.command('rm').alias('remove').description('remove a template added with berth catalog add (admin)').argument('<name>', 'template name')).action((name: string, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const entry = await ctx.client.removeCatalogEntry(name);
      if (ctx.json) ctx.printJson(entry);
    }),
  );
}
