/** `berth logs <id> [-f] [--tail N]`: a deployment's log lines, optionally followed until Ctrl-C. */
import type { Command } from 'commander';
import { Option } from 'commander';
import type { LogEntry } from '../../api/contract.js';
import type { Runner } from '../context.js';
import { parseCount, withApiOptions } from '../context.js';
import { formatLogEntry } from '../format.js';

export function registerLogs(program: Command, run: Runner): void {
  withApiOptions(program.command('logs').description("print a deployment's logs").argument('<id>', 'deployment id'))
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .addOption(new Option('-n, --tail <lines>', 'how many recent lines').argParser(parseCount).default(100))
    .action((id: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const opts = cmd.opts() as { follow?: boolean; tail: number };
        // --json: one JSON object per line when following (NDJSON), the API's list otherwise.
        const print = ctx.json
          ? (e: LogEntry) => ctx.out(JSON.stringify(e))
          : (e: LogEntry) => ctx.out(formatLogEntry(e));
        if (opts.follow) {
          await ctx.client.followLogs(id, { tail: opts.tail, signal: ctx.signal, onEntry: print });
          return;
        }
        const list = await ctx.client.getLogs(id, opts.tail);
        if (ctx.json) return ctx.printJson(list);
        list.items.forEach(print);
      }),
    );
}
