/** `berth update`, `berth redeploy`, `berth rollback`: new revisions of a deployment, rolled out blue-green. */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { DeploymentView } from '../../core/index.js';
import type { CliContext, Runner } from '../context.js';
import { usage, withApiOptions } from '../context.js';
import { collectEnv, collectMount, collectTag, parseNetwork, parseRuntime, parseTimeout, positiveNumber } from '../deploy-args.js';
import { buildUpdateBody, collectUnset, parseIdle, parseMin, type UpdateFlags } from '../update-args.js';
import { readSecretValues } from '../secret-input.js';
import { waitForRollout } from '../rollout.js';
import { localSourceOf, withZip } from '../source-deploy.js';

interface WaitOpts {
  wait: boolean;
  timeout: number;
}

function withWait(cmd: Command): Command {
  return cmd.option('--no-wait', 'return at once instead of waiting for the new revision to serve').addOption(new Option('--timeout <seconds>', 'how long to wait').argParser(parseTimeout).default(180));
}

async function finish(ctx: CliContext, view: DeploymentView, opts: WaitOpts, what: string): Promise<void> {
  if (!opts.wait) {
    if (ctx.json) ctx.printJson(view);
    else ctx.out(`${what}: revision ${view.revision} of ${view.name} is rolling out (berth status ${view.name})`);
    return;
  }
  const status = await waitForRollout(ctx, view, opts.timeout);
  if (ctx.json) ctx.printJson(status);
  else ctx.out(`${what}: revision ${view.revision} of ${view.name} serves (${status.status}); the endpoint is unchanged: ${status.endpoint}`);
}

export function registerUpdate(program: Command, run: Runner): void {
  withWait(
    withApiOptions(
      program
        .command('update')
        .description('change a deployment: a new revision, started beside the old one and switched to once healthy')
        .usage('<name|id> [options] [-- <command> [args...]]\n       berth update <name|id> ./folder|./server.zip')
        .argument('<ref>', 'deployment name or id')
        .argument('[command...]', 'a new command and arguments, after --')
        .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collectEnv)
        .option('--unset <KEY>', 'remove an environment variable (repeatable)', collectUnset)
        .option('--secret <NAME>', 'set a secret environment variable, read from stdin or a hidden prompt (repeatable)', (v: string, p: string[] = []) => [...p, v])
        .option('--mount <path[:rw]>', 'the host paths the server sees, replacing the current list (repeatable)', collectMount)
        .option('--no-mounts', 'remove every mount')
        .option('--network <policy>', 'egress, none or host', parseNetwork)
        .option('--runtime <process|container>', 'run it as a sandboxed process or as a container (a new revision)', parseRuntime)
        .option('--memory <MiB>', 'memory limit per server process', positiveNumber(true))
        .option('--pids <n>', 'process and thread limit per server process', positiveNumber(true))
        .option('--cpus <n>', 'CPU limit per server process', positiveNumber(false))
        .option('--isolated', 'one process per client session')
        .option('--shared', 'one process shared by all sessions')
        .option('--min <0|1>', 'scale: 0 stops it when idle and wakes it on the first call; 1 keeps it running', parseMin)
        .option('--idle <seconds>', 'scale: seconds without requests before an idle stop (with --min 0)', parseIdle)
        .option('--public', 'let MCP clients in without a token')
        .option('--private', 'MCP clients need a token with invoke scope')
        .option('--name <name>', 'rename it (the id and endpoint stay)')
        .option('--description <text>', 'description')
        .option('--tag <tag>', 'replace the tags (repeatable)', collectTag)
        .addHelpText(
          'after',
          `
Examples:
  berth update everything -e LOG_LEVEL=debug
  berth update fs --mount /data/a --mount /data/b:rw
  berth update everything --min 0 --idle 60
  berth update everything -- npx -y @modelcontextprotocol/server-everything@2026.8.31
  berth update weather ./weather-server     # new code: packed, uploaded, a new revision
`,
        ),
    ),
  ).action(async (ref: string, commandLine: string[], _opts: unknown, cmd: Command) => {
    const opts = cmd.opts() as UpdateFlags & WaitOpts & { secret?: string[] };
    const local = localSourceOf(commandLine);
    if (local) {
      const others = usage(cmd, () => buildUpdateBody(opts, []));
      if (Object.keys(others).length > 0 || local.args.length > 0 || (opts.secret ?? []).length > 0) {
        usage(cmd, () => {
          throw new Error('a new folder or ZIP makes a revision of its own: change the other settings with a second berth update');
        });
      }
      await run(cmd, async (ctx) => finish(ctx, await withZip(ctx, local, (zip) => ctx.client.replaceSource(ref, zip)), opts, 'Updated'));
      return;
    }
    const body = usage(cmd, () => buildUpdateBody(opts, commandLine));
    await run(cmd, async (ctx) => {
      const names = opts.secret ?? [];
      if (names.length > 0) body.secrets = await readSecretValues(ctx.io, names);
      if (Object.keys(body).length === 0) throw usageError();
      const view = await ctx.client.updateDeployment(ref, body);
      const before = await ctx.client.getStatus(view.id);
      if (before.serving_revision === view.revision && before.observed_generation >= view.generation) {
        if (ctx.json) ctx.printJson(view);
        else ctx.out(`Updated ${view.name} (no new revision: only its name, description, tags or access changed)`);
        return;
      }
      await finish(ctx, view, opts, 'Updated');
    });
  });

  withWait(withApiOptions(program.command('redeploy').description('a new revision with the same spec: fresh processes, secrets read again').argument('<ref>', 'deployment name or id'))).action(
    (ref: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => finish(ctx, await ctx.client.redeploy(ref), cmd.opts() as WaitOpts, 'Redeployed')),
  );

  withWait(
    withApiOptions(
      program
        .command('rollback')
        .description('go back to an earlier revision (default: the newest earlier one that differs), as a new revision')
        .argument('<ref>', 'deployment name or id')
        .argument('[revision]', 'the revision number to go back to (see berth history)', (v: string) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 1) throw new Error(`expected a revision number, got '${v}'`);
          return n;
        }),
    ),
  ).action((ref: string, revision: number | undefined, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => finish(ctx, await ctx.client.rollback(ref, revision), cmd.opts() as WaitOpts, 'Rolled back')),
  );
}

function usageError(): Error {
  return new Error('nothing to update: give -e, --unset, --secret, --mount, --min, … or -- <command> [args...] (see berth update --help)');
}
