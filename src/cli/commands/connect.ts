/** `berth connect ID|NAME|group:NAME [--print-config]`: stdio for desktop clients, Streamable HTTP to Berth. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { runConnect } from '../connect.js';
import type { CliContext, Runner } from '../context.js';
import { CliFailure, withApiOptions } from '../context.js';
import { ApiClientError } from '../api-client.js';

const CLIENTS = ['claude', 'cursor', 'vscode'] as const;
type ClientKind = (typeof CLIENTS)[number];

/** The MCP endpoint a target names: a group's, or a deployment's (a name is looked up when the token may read). */
export async function endpointOf(ctx: CliContext, target: string): Promise<{ url: string; label: string }> {
  if (target.startsWith('group:')) {
    const name = target.slice('group:'.length);
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(name)) throw new CliFailure(`not a group name: ${JSON.stringify(name)}`, { exitCode: 2 });
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

/** The client's config snippet that launches `berth connect TARGET` (this installation's node and bin/berth.js). */
export function clientConfig(kind: ClientKind, label: string, target: string, berthUrl: string): Record<string, unknown> {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/berth.js');
  const server = { command: process.execPath, args: [bin, 'connect', target], env: { BERTH_URL: berthUrl } };
  if (kind === 'vscode') return { servers: { [label]: { type: 'stdio', ...server } } };
  return { mcpServers: { [label]: server } };
}

export function registerConnect(program: Command, run: Runner): void {
  withApiOptions(
    program
      .command('connect')
      .description('a stdio MCP server for desktop clients (Claude Desktop, Cursor, VS Code) that forwards to a deployment or group on Berth')
      .argument('<target>', 'deployment id or name, or group:NAME')
      .option('--print-config', "print the client's config snippet that launches this command, and exit")
      .option('--client <kind>', `with --print-config: ${CLIENTS.join(', ')}`, 'claude')
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
      if (!(CLIENTS as readonly string[]).includes(opts.client)) throw new CliFailure(`--client must be one of ${CLIENTS.join(', ')}`, { exitCode: 2 });
      const { url, label } = await endpointOf(ctx, target);
      if (opts.printConfig) {
        ctx.out(JSON.stringify(clientConfig(opts.client as ClientKind, label, target, ctx.client.baseUrl), null, 2));
        ctx.err(`The token comes from berth login on this machine (or add "BERTH_TOKEN" to env; a token scoped ${target.startsWith('group:') ? `invoke:${target}` : 'invoke:ID'} is enough).`);
        return;
      }
      await runConnect({ url, headers: ctx.client.authHeaders(), input: process.stdin, output: ctx.io.stdout, log: (line) => ctx.err(line), signal: ctx.signal });
    }),
  );
}
