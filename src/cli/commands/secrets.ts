/**
 * `berth secrets set|ls|rm ID|global …` and `berth secrets rotate-key`. A value is read from stdin
 * when it is piped, or from a prompt that echoes nothing on a terminal; never from the command line.
 */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { CliFailure, withApiOptions } from '../context.js';
import { renderTable } from '../format.js';
import { readSecretValues } from '../secret-input.js';

const SCOPE = 'a deployment id, or "global" for secrets every deployment may use';

export function registerSecrets(program: Command, run: Runner): void {
  const secrets = program
    .command('secrets')
    .description('manage secrets: stored encrypted, used as secret_ref:ID:KEY or secret_ref:global:KEY')
    .addHelpText(
      'after',
      `
Examples:
  berth secrets set global GH_TOKEN              # prompts for the value (not shown)
  printf %s "$TOKEN" | berth secrets set everything-k3x9f2ab01cd API_KEY
  berth secrets ls everything-k3x9f2ab01cd
  berth secrets rm global GH_TOKEN
  berth secrets rotate-key

A running server gets a changed value at its next start (berth stop ID && berth start ID).`,
    );

  withApiOptions(secrets.command('set').description('set a secret; the value comes from stdin or a hidden prompt').argument('<scope>', SCOPE).argument('<key>', 'secret name'))
    .allowExcessArguments()
    .action((scope: string, key: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        // Checked here, not by commander, whose message would repeat the argument: a value typed by mistake.
        if (cmd.args.length > 2) throw new CliFailure('the value is never taken from the command line: pipe it to stdin or type it at the prompt', { exitCode: 2 });
        const values = await readSecretValues(ctx.io, [key]);
        const info = await ctx.client.setSecret(scope, key, values[key]!);
        if (ctx.json) ctx.printJson(info);
      }),
    );

  withApiOptions(secrets.command('ls').alias('list').description('list secret names (never values)').argument('<scope>', SCOPE)).action((scope: string, _opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const list = await ctx.client.listSecrets(scope);
      if (ctx.json) return ctx.printJson(list);
      if (list.items.length === 0) return ctx.out(`No secrets in ${scope}. Set one with: berth secrets set ${scope} KEY`);
      ctx.out(renderTable(['NAME', 'UPDATED'], list.items.map((s) => [s.name, s.updated_at])));
    }),
  );

  withApiOptions(secrets.command('rm').alias('delete').description('delete a secret').argument('<scope>', SCOPE).argument('<key>', 'secret name')).action(
    (scope: string, key: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        await ctx.client.deleteSecret(scope, key);
        if (ctx.json) ctx.printJson({ name: key, deleted: true });
      }),
  );

  withApiOptions(secrets.command('rotate-key').description('replace the master key file with a new key, re-encrypting every value')).action((_opts: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const result = await ctx.client.rotateKey();
      if (ctx.json) return ctx.printJson(result);
      ctx.out(`Rotated the master key: ${result.reencrypted} value${result.reencrypted === 1 ? '' : 's'} re-encrypted under key ${result.key_id}`);
    }),
  );
}
