/** The `berth` command: parses argv with commander and returns an exit code instead of exiting. */
import { Command, CommanderError } from 'commander';
import { ApiClientError } from './api-client.js';
import { registerAudit } from './commands/audit.js';
import { registerBridge } from './commands/bridge.js';
import { registerCatalog } from './commands/catalog.js';
import { registerConfig } from './commands/config.js';
import { registerConnect } from './commands/connect.js';
import { registerGroup } from './commands/group.js';
import { registerDeploy } from './commands/deploy.js';
import { registerLogin } from './commands/login.js';
import { registerLogs } from './commands/logs.js';
import { registerLs } from './commands/ls.js';
import { registerRm } from './commands/rm.js';
import { registerSecrets } from './commands/secrets.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerStop } from './commands/stop.js';
import { registerTokens } from './commands/tokens.js';
import { registerHistory } from './commands/history.js';
import { registerRestart } from './commands/restart.js';
import { registerUpdate } from './commands/update.js';
import type { CliIo, Runner } from './context.js';
import { CliFailure, DEFAULT_URL, contextFor } from './context.js';
import { VERSION } from '../version.js';

export type { CliIo } from './context.js';

const EXAMPLES = `
Examples:
  berth deploy -- npx -y @modelcontextprotocol/server-everything
  berth deploy --url https://mcp.example.com/mcp
  berth ls
  berth status everything-k3x9f2ab01cd
  berth logs everything-k3x9f2ab01cd -f
  berth stop|start|restart|rm everything          # a name or an id
  berth update everything -e LOG_LEVEL=debug      # a new revision, blue-green; same id and endpoint
  berth history everything / berth rollback everything [REV] / berth redeploy everything
  berth deploy --name sleepy --min 0 --idle 60 -- npx -y @modelcontextprotocol/server-everything   # scale to zero
  berth login                      # paste the token Berth printed at first start
  berth tokens create --scope invoke:everything-k3x9f2ab01cd --expires 30d
  berth audit --since 7d --action deployment.create
  berth deploy --secret API_KEY -- npx -y some-mcp-server    # prompts for API_KEY
  berth secrets set global GH_TOKEN
  berth --url http://berth.internal:8080 ls --json
  berth bridge --port 3000 -- npx -y @modelcontextprotocol/server-everything   # no Berth: one server on /mcp
`;

/** Runs the CLI on `argv` (process.argv style: node, script, args...) and resolves to the exit code. */
export async function main(argv: string[], io?: CliIo): Promise<number> {
  const effectiveIo: CliIo = io ?? { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
  const controller = new AbortController();
  const signal = effectiveIo.signal ? AbortSignal.any([effectiveIo.signal, controller.signal]) : controller.signal;
  const onSigint = (): void => controller.abort();
  if (!io) process.once('SIGINT', onSigint);
  try {
    await buildProgram(effectiveIo, signal).parseAsync(argv, { from: 'node' });
    return 0;
  } catch (err) {
    return report(err, effectiveIo);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

function buildProgram(io: CliIo, signal: AbortSignal): Command {
  const program = new Command('berth')
    .description('Deploy, run and watch MCP servers on a Berth server')
    .version(VERSION, '-v, --version', 'print the version')
    .option('--url <url>', `Berth URL (env BERTH_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env BERTH_TOKEN)')
    .option('--json', 'print the API JSON only')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`berth: ${s.replace(/^error: /, '')}`),
    })
    .addHelpText('after', EXAMPLES);
  const run: Runner = (cmd, fn) => fn(contextFor(cmd, io, signal));
  registerDeploy(program, run);
  registerLs(program, run);
  registerStatus(program, run);
  registerLogs(program, run);
  registerStop(program, run);
  registerStart(program, run);
  registerRestart(program, run);
  registerRm(program, run);
  registerUpdate(program, run);
  registerHistory(program, run);
  registerLogin(program, run);
  registerTokens(program, run);
  registerAudit(program, run);
  registerSecrets(program, run);
  registerCatalog(program, run);
  registerGroup(program, run);
  registerConnect(program, run);
  registerConfig(program, run);
  registerBridge(program, run);
  return program;
}

function report(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // already printed by commander
  const line = (s: string): void => void io.stderr.write(`${s}\n`);
  if (err instanceof ApiClientError) {
    line(`berth: ${err.message} (${err.code})`);
    if (err.code === 'UNAUTHORIZED' || err.code === 'TOKEN_EXPIRED' || err.code === 'TOKEN_REVOKED') {
      line('berth: log in with `berth login` (the admin token Berth printed at its first start, or one from `berth tokens create`), or set BERTH_TOKEN');
    }
    return 1;
  }
  if (err instanceof CliFailure) {
    line(`berth: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    err.extra.forEach(line);
    return err.exitCode;
  }
  line(`berth: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}
