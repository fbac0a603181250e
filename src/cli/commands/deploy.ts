/** `berth deploy [options] -- <command> [args...]` and `berth deploy --url <endpoint>`. */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CatalogDeployInput } from '../../api/contract.js';
import type { CreateDeploymentInput, DeploymentView } from '../../core/index.js';
import type { CliContext, Runner } from '../context.js';
import { usage } from '../context.js';
import type { DeployFlags } from '../deploy-args.js';
import { buildCatalogInput, catalogTarget } from '../catalog-args.js';
import { buildCreateInput, collectEnv, collectHeader, collectMount, collectSecret, collectTag, parseNetwork, parsePackageOption, parseRuntime, parseTimeout, positiveNumber, withSecretValues } from '../deploy-args.js';
import { absoluteEndpoint, clientSnippet } from '../format.js';
import { readSecretValues } from '../secret-input.js';
import { parseIdle, parseMin } from '../update-args.js';
import { waitUntilRunning } from '../wait.js';
import { dryRun, localSourceOf, sourceCreateBody, withZip } from '../source-deploy.js';

interface DeployOpts extends DeployFlags {
  wait: boolean;
  timeout: number;
  dryRun?: boolean;
}

export function registerDeploy(program: Command, run: Runner): void {
  program
    .command('deploy')
    .description('deploy an MCP server: a stdio command, a folder or ZIP of its code, a git repository (git+URL#ref:subdir), a catalog template (catalog:NAME), an OCI image (image:REF) or a remote endpoint with --url')
    .usage('[options] -- <command> [args...]\n       berth deploy [options] ./folder|./server.zip [-- args...]\n       berth deploy [options] git+URL[#ref][:subdir]\n       berth deploy [options] catalog:NAME [-- args...]\n       berth deploy [options] image:REF [--port P [--path /mcp]] [-- command args...]\n       berth deploy [options] --url <endpoint>')
    .argument('[command...]', 'the server command and its arguments, after --')
    .option('--name <name>', 'display name (default: derived from the command)')
    .option('--description <text>', 'description')
    .option('--tag <tag>', 'tag (repeatable)', collectTag)
    .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collectEnv)
    .option('--url <endpoint>', 'deploy a remote Streamable HTTP endpoint instead of a command')
    .option('--package <registry:name>', 'run a package from Berth\'s package cache: npm:NAME[@VERSION] or pypi:NAME[==VERSION]; its arguments follow --', parsePackageOption)
    .option('--no-package-cache', 'keep `npx PKG` / `uvx PKG` as the command given (default: run PKG from the package cache, with no npx or uvx process)')
    .option('--header <"Name: value">', 'HTTP header sent to a --url endpoint (repeatable)', collectHeader)
    .option('--secret <NAME>', 'a secret environment variable (or --url header) whose value is read from stdin or a hidden prompt (repeatable)', collectSecret)
    .option('--cwd <dir>', 'working directory of the command (under the operator\'s BERTH_MOUNT_ROOTS; read-write)')
    .option('--mount <path[:rw]>', 'let the server see a host folder or file, read-only unless :rw (repeatable; under BERTH_MOUNT_ROOTS)', collectMount)
    .option('--network <policy>', 'egress (default: internet only), none (loopback only) or host (if the operator allows it)', parseNetwork)
    .option('--memory <MiB>', 'memory limit per server process', positiveNumber(true))
    .option('--pids <n>', 'process and thread limit per server process', positiveNumber(true))
    .option('--cpus <n>', 'CPU limit per server process, in cores (fractions allowed)', positiveNumber(false))
    .option('--isolated', 'one process per client session instead of one shared process')
    .option('--runtime <process|container>', 'where it runs: a sandboxed process or a container (default: the operator\'s BERTH_DEFAULT_RUNTIME)', parseRuntime)
    .option('--port <port>', 'image:REF serves MCP over HTTP itself on this port (without it: a stdio server behind Berth\'s bridge)', positiveNumber(true))
    .option('--path <path>', 'image:REF with --port: the MCP path (default /mcp)')
    .option('--min <0|1>', 'scale: 0 stops it when idle and wakes it on the first call (listing needs no wake); 1 (default) keeps it running', parseMin)
    .option('--idle <seconds>', 'scale: seconds without requests before an idle stop (default 300; with --min 0)', parseIdle)
    .option('--public', 'let MCP clients in without a token (default: they need one with invoke scope)')
    .option('--dry-run', 'with a folder or ZIP: upload it and print what Berth detects (language, install, start, problems and fixes), without deploying')
    .option('--no-start', 'create it stopped')
    .option('--no-wait', 'return once created, without waiting for it to run')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for it to run').argParser(parseTimeout).default(180))
    .option('--token <token>', 'API token (env BERTH_TOKEN)')
    .option('--json', 'print the API JSON only')
    .passThroughOptions()
    .addHelpText(
      'after',
      `
The Berth URL comes from BERTH_URL or from --url placed before 'deploy' (berth --url http://host:8080 deploy ...).

Examples:
  berth deploy -- npx -y @modelcontextprotocol/server-everything          # installed once, run without npx
  berth deploy --package npm:@modelcontextprotocol/server-memory@2026.1.26
  berth deploy --name fs --mount /data:rw -- npx -y @modelcontextprotocol/server-filesystem /data
  berth deploy --secret GITHUB_TOKEN -- npx -y @modelcontextprotocol/server-github
  berth deploy --url https://mcp.example.com/mcp --secret Authorization   # prompts for "Bearer …"
  berth deploy ./my-server                  # a folder: packed (honouring .gitignore, .berthignore), installed, run
  berth deploy ./server.zip --name weather
  berth deploy --dry-run ./my-server        # what Berth detects, and what to fix, before deploying
  berth deploy --name sleepy --min 0 --idle 60 -- npx -y @modelcontextprotocol/server-everything   # scale to zero
  berth deploy catalog:memory                                              # a template from berth catalog
  berth deploy catalog:filesystem --mount /data:rw -- /data
  berth deploy git+https://github.com/org/repo#v1.2.0:servers/weather     # fetched at deploy; the commit is recorded
  berth deploy image:localhost/my-server:1.0                              # the image's command as a stdio server, in a container
  berth deploy image:localhost/my-server:1.0 -- node /app/server.js --verbose   # another command in that image
  berth deploy image:localhost/http-server:1.0 --port 3000 --path /mcp    # an image that serves MCP over HTTP
  berth deploy --runtime container -- node /srv/server.js                 # a command in BERTH_BASE_IMAGE, as a container
`,
    )
    .action(async (commandLine: string[], _opts: unknown, cmd: Command) => {
      // `deploy catalog:NAME -e K=V` / `deploy git+URL --name x`: options after the first argument arrive as
      // arguments (passThroughOptions keeps a command's own flags); read them as this command's options.
      if (commandLine[0] !== undefined && (commandLine[0].startsWith('catalog:') || commandLine[0].startsWith('git+') || commandLine[0].startsWith('image:'))) {
        commandLine = usage(cmd, () => optionsAfterTarget(cmd, commandLine));
      }
      let opts = cmd.opts() as DeployOpts;
      const template = usage(cmd, () => catalogTarget(commandLine));
      if (template !== null) {
        const body = usage(cmd, () => buildCatalogInput(opts, commandLine));
        await run(cmd, (ctx) => deployTemplate(ctx, template, body, opts));
        return;
      }
      const local = localSourceOf(commandLine);
      if (local && local.args.length > 0) {
        // `berth deploy ./folder --name x -- ARGS`: options after a folder or ZIP are Berth's (a command's go to it).
        const rest = cmd.parseOptions(local.args);
        local.args = [...rest.operands, ...rest.unknown];
        opts = cmd.opts() as DeployOpts;
      }
      if (opts.dryRun) {
        if (!local) usage(cmd, () => { throw new Error('--dry-run needs a folder or a .zip file: berth deploy --dry-run ./my-server'); });
        await run(cmd, (ctx) => dryRun(ctx, local!));
        return;
      }
      if (local) {
        const body = usage(cmd, () => sourceCreateBody(opts, local));
        await run(cmd, (ctx) => deploy(ctx, body as unknown as CreateDeploymentInput, opts, (b) => withZip(ctx, local, (zip) => ctx.client.createSourceDeployment(b as unknown as Record<string, unknown>, zip))));
        return;
      }
      const input = usage(cmd, () => buildCreateInput(opts, commandLine));
      await run(cmd, (ctx) => deploy(ctx, input, opts));
    });
}

/** Parses the options between `catalog:NAME` (or `git+URL`) and `--`; returns the target and what follows `--`. */
function optionsAfterTarget(cmd: Command, commandLine: string[]): string[] {
  const [target, ...rest] = commandLine as [string, ...string[]];
  const dd = rest.indexOf('--');
  const before = dd === -1 ? rest : rest.slice(0, dd);
  const after = dd === -1 ? [] : rest.slice(dd + 1);
  const { operands, unknown } = cmd.parseOptions(before);
  const stray = [...operands, ...unknown];
  if (stray.length > 0) throw new Error(`unexpected ${JSON.stringify(stray[0])} after ${target}: put the server's arguments after --`);
  return [target, ...after];
}

async function deploy(ctx: CliContext, input: CreateDeploymentInput, opts: DeployOpts, create: (body: CreateDeploymentInput) => Promise<DeploymentView> = (b) => ctx.client.createDeployment(b)): Promise<void> {
  const names = opts.secret ?? [];
  const body = names.length > 0 ? withSecretValues(input, await readSecretValues(ctx.io, names)) : input;
  await afterCreate(ctx, input, await create(body), opts);
}

/** `berth deploy catalog:NAME`: the template becomes a deployment on the server (POST /api/catalog/NAME/deploy). */
async function deployTemplate(ctx: CliContext, template: string, body: CatalogDeployInput, opts: DeployOpts): Promise<void> {
  const names = opts.secret ?? [];
  const secrets = names.length > 0 ? await readSecretValues(ctx.io, names) : {};
  const created = await ctx.client.deployCatalog(template, Object.keys(secrets).length > 0 ? { ...body, secrets } : body);
  await afterCreate(ctx, { name: created.name, spec: created.spec } as CreateDeploymentInput, created, opts);
}

async function afterCreate(ctx: CliContext, input: CreateDeploymentInput, created: DeploymentView, opts: DeployOpts): Promise<void> {
  if (!opts.start) {
    if (ctx.json) ctx.printJson(created);
    else {
      packageNote(ctx, input, created);
      ctx.out(`Created ${created.id} (not started); start it with: berth start ${created.id}`);
    }
    return;
  }
  if (!opts.wait) {
    if (ctx.json) ctx.printJson(created);
    else printSummary(ctx, input, created, `Check on it with: berth status ${created.id}`);
    return;
  }
  await waitUntilRunning(ctx, created.id, opts.timeout);
  const view = await ctx.client.getDeployment(created.id);
  if (ctx.json) ctx.printJson(view);
  else printSummary(ctx, input, view, `Follow its logs with: berth logs ${view.id} -f`);
}

/** What a package deployment runs: the exact version Berth pinned, from its cache, with no npx or uvx. */
function packageNote(ctx: CliContext, input: CreateDeploymentInput, view: DeploymentView): void {
  if (input.spec.type !== 'package') return;
  const version = view.spec.type === 'package' ? view.spec.version : input.spec.version;
  ctx.out(`Running ${input.spec.name}@${version ?? 'latest'} from the package cache (no ${input.spec.registry === 'npm' ? 'npx' : 'uvx'})`);
}

function printSummary(ctx: CliContext, input: CreateDeploymentInput, view: DeploymentView, hint: string): void {
  packageNote(ctx, input, view);
  const endpoint = absoluteEndpoint(view.endpoint, ctx.client.baseUrl);
  ctx.out(`Deployed ${view.id} (${view.status})`);
  ctx.out(`Endpoint: ${endpoint}`);
  ctx.out('');
  ctx.out('MCP client config:');
  ctx.out(clientSnippet(view.name, endpoint, view.access).replace('invoke:ID', `invoke:${view.id}`));
  ctx.out('');
  if (view.access === 'private') ctx.out(`Clients need a token: berth tokens create --scope invoke:${view.id} (or deploy with --public).`);
  ctx.out(hint);
}
