/** `berth connect ID|NAME|group:NAME [--print-config]`: stdio for desktop clients, Streamable HTTP to Berth. */
import type { Command } from 'commander';
import { GROUP_NAME } from '../../core/group.js';
import { CLIENT_KINDS, isClientKind, connectConfig, thisBerth } from '../client-config.js';
import { runConnect } from '../connect.js';
import type { CliContext, Runner } from '../context.js';
import { CliFailure, withApiOptions } from '../context.js';
import { ApiClientError } from '../api-client.js';

/** The MCP endpoint a target names: a group's, or a deployment's (a name is looked up when the token may read). */
export async function endpointOf(ctx: CliContext, target: string): Promise<{ url: string; label: string }> {
  if (target.startsWith('group:')) {
    const name = target.slice('group:'.length);
    if (!GROUP_NAME.test(name)) throw new CliFailure(`not a group name: ${JSON.stringify(name)}`, { exitCode: 2 });
    return { url: `${ctx.client.baseUrl}/g/${name}/mcp`, label: name };
  }
  try {
    const d = await ctx.client.getDeployment(target);
    return { url: `${ctx.client.baseUrl}/s/${d.id}/mcp`, label: d.name };
  } catch (err) {
    // A token made for MCP only (invoke:ID) may not read deployments: then the target must be the id itself.
    if (err instanceof ApiClientError && (err.status === 401 || err.status === 403) && /^[a-z0-9-]+$/.test(target)) return { url: `${ctx.client.baseUrl}/s/${target}/mcp`, label: target };
    throw err;
  }
}

export function registerConnect(program: Command, run: Runner): void {
  withApiOptions(
    program
      .command('connect')
      .description('a stdio MCP server for desktop clients (Claude Desktop, Cursor, VS Code) that forwards to a deployment or group on Berth')
      .argument('<target>', 'deployment id or name, or group:NAME')
      .option('--print-config', "print the client's config snippet that launches this command, and exit")
      .option('--client <kind>', `with --print-config: ${CLIENT_KINDS.join(', ')}`, 'claude')
      .addHelpText(
        'after',
        `
The token is the one berth login saved (or BERTH_TOKEN); stdout carries MCP only, Berth's own lines go to stderr.
If Berth restarts, the session is opened again with the client's initialize, and unanswered requests are sent again.

Examples:
  berth connect kg --print-config                      # paste into claude_desktop_config.json
  berth connect group:tools --print-config --client vscode`,
      ),
  ).action((target: string, opts: { printConfig?: boolean; client: string }, cmd: Command) =>
    run(cmd, async (ctx) => {
      if (!isClientKind(opts.client)) throw new CliFailure(`--client must be one of ${CLIENT_KINDS.join(', ')}`, { exitCode: 2 });
      const { url, label } = await endpointOf(ctx, target);
      if (opts.printConfig) {
        ctx.out(JSON.stringify(connectConfig(opts.client, label, target, thisBerth(ctx.client.baseUrl)), null, 2));
        ctx.err(`The token comes from berth login on this machine (or add "BERTH_TOKEN" to env; a token scoped ${target.startsWith('group:') ? `invoke:${target}` : 'invoke:ID'} is enough).`);
        return;
      }
      await runConnect({ url, headers: ctx.client.authHeaders(), input: process.stdin, output: ctx.io.stdout, log: (line) => ctx.err(line), signal: ctx.signal });
    }),
  );
}
