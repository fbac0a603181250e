/**
 * `berth bridge --port P [--host H] [--isolated] [--token T] -- CMD ARGS`: serve one stdio MCP server over
 * Streamable HTTP (/mcp), legacy HTTP+SSE (/sse, /message) and /health, without a Berth. Runs until
 * SIGTERM or Ctrl-C (then stops the server); exits 1 when the server cannot be kept running.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Runner } from '../context.js';
import { CliFailure, parseCount, usage } from '../context.js';

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`expected a port number (0-65535), got '${value}'`);
  return Number(value);
}

interface BridgeOpts {
  port: number;
  host: string;
  isolated?: boolean;
  warm: number;
  maxSessions: number;
  maxBodyBytes?: number;
  token?: string;
}

export function registerBridge(program: Command, run: Runner): void {
  program
    .command('bridge')
    .description('serve a stdio MCP server over HTTP on one port (the bridge as its own program)')
    .usage('--port <port> [options] -- <command> [args...]')
    .argument('[command...]', 'the server command and its arguments, after --')
    .requiredOption('--port <port>', 'port to listen on (0: any free one)', parsePort)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--isolated', 'one server process per client session')
    .option('--warm <n>', 'isolated mode: processes kept started for the next session', parseCount, 1)
    .option('--max-sessions <n>', 'most sessions (and, isolated, processes) at once', parseCount, 256)
    .option('--max-body-bytes <n>', 'largest request body', parseCount)
    .option('--token <token>', 'require Authorization: Bearer TOKEN (env BERTH_BRIDGE_TOKEN)')
    .passThroughOptions()
    .action((command: string[], _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const opts = cmd.opts() as BridgeOpts;
        const [file, ...args] = usage(cmd, () => {
          if (command.length === 0) throw new Error('give the server command after --, e.g. berth bridge --port 8080 -- npx -y @modelcontextprotocol/server-everything');
          return command;
        });
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(ctx.io.env)) if (v !== undefined && k !== 'BERTH_BRIDGE_TOKEN') env[k] = v;
        const token = opts.token ?? ctx.io.env.BERTH_BRIDGE_TOKEN;
        const { startBridgeServer } = await import('../../bridge.js');
        const server = await startBridgeServer({
          command: file!,
          args,
          env,
          host: opts.host,
          port: opts.port,
          ...(opts.isolated ? { isolated: { warm: Math.min(opts.warm, opts.maxSessions), max: opts.maxSessions } } : {}),
          maxSessions: opts.maxSessions,
          ...(opts.maxBodyBytes ? { maxBodyBytes: opts.maxBodyBytes } : {}),
          ...(token ? { token } : {}),
          log: (line) => ctx.err(`berth bridge: ${line}`),
        }).catch((err: unknown) => {
          throw new CliFailure(`cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`);
        });
        ctx.err(`berth bridge: listening on ${server.url} (/mcp, /sse, /health)`);
        let onTerm!: () => void;
        const stopped = new Promise<'stop'>((resolve) => {
          onTerm = () => resolve('stop');
          process.once('SIGTERM', onTerm);
          ctx.signal.addEventListener('abort', onTerm, { once: true });
        });
        const outcome = await Promise.race([stopped, server.failed]);
        process.removeListener('SIGTERM', onTerm);
        await server.close();
        if (outcome !== 'stop') throw new CliFailure(`the MCP server cannot be kept running: ${outcome}`);
      }),
    );
}
