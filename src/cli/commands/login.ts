/** `berth login`, `berth logout`, `berth whoami`: keep a token for a Berth in the CLI's config file. */
import type { Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { configPath, readConfig, urlKey, writeConfig } from '../config-file.js';
import type { CliContext, Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import { CliFailure } from '../failure.js';
import { readSecret } from '../secret-input.js';

function pathOrFail(ctx: CliContext): string {
  const path = configPath(ctx.io.env);
  if (!path) throw new CliFailure('nowhere to keep the token: set HOME or BERTH_CONFIG', { code: 'NO_CONFIG_PATH' });
  return path;
}

export function registerLogin(program: Command, run: Runner): void {
  withApiOptions(program.command('login').description('save an API token for this Berth (read from stdin or a hidden prompt)')).action((_o: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const path = pathOrFail(ctx);
      const url = urlKey(ctx.client.baseUrl);
      const given = (cmd.opts() as { token?: string }).token ?? ((cmd.parent?.opts() ?? {}) as { token?: string }).token;
      const token = given ?? (await readSecret(ctx.io, 'the API token', `API token for ${url} (the one Berth printed at first start): `)).trim();
      const who = await new ApiClient({ baseUrl: url, token }).whoami();
      const config = readConfig(path);
      config.servers[url] = { token };
      config.current = url;
      writeConfig(path, config);
      if (ctx.json) return ctx.printJson({ url, ...who, config: path });
      ctx.out(`Logged in to ${url} as ${who.name} (${who.id}; scopes ${who.scopes.join(', ')}). Token saved in ${path}.`);
    }),
  );

  withApiOptions(program.command('logout').description('forget the saved token for this Berth')).action((_o: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const path = pathOrFail(ctx);
      const url = urlKey(ctx.client.baseUrl);
      const config = readConfig(path);
      const had = config.servers[url]?.token !== undefined;
      delete config.servers[url];
      if (config.current === url) delete config.current;
      writeConfig(path, config);
      if (!ctx.json) ctx.out(had ? `Forgot the token for ${url}.` : `No token was saved for ${url}.`);
    }),
  );

  withApiOptions(program.command('whoami').description('show which token the CLI uses and what it may do')).action((_o: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const who = await ctx.client.whoami();
      if (ctx.json) return ctx.printJson(who);
      ctx.out(`${who.name} (${who.id}) on ${ctx.client.baseUrl}: ${who.scopes.join(', ')}`);
    }),
  );
}
