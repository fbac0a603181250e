import { createApp } from './app.js';
import { loadConfig } from './config/config.js';
import type { Leadership } from './control/leadership.js';
import { BerthError } from './core/errors.js';

/** What a start that had to make the admin token prints: the token (this once), and how to use it. */
function bootstrapNotice(token: string, publicUrl: string): string {
  const login = publicUrl === 'http://127.0.0.1:8080' ? 'npx berth login' : `npx berth login --url ${publicUrl}`;
  return [
    '',
    'berth: created an admin API token. It is shown this once and stored only as a hash:',
    '',
    `    ${token}`,
    '',
    `berth: save it for the CLI with \`${login}\` (paste it when asked), or send it as "Authorization: Bearer TOKEN".`,
    'berth: make narrower tokens with `berth tokens create --scope …`.',
    '',
    '',
  ].join('\n');
}

/** Whether this Berth runs the servers, said once at start. */
function roleNotice(leadership: Leadership, retryS: number): string {
  if (leadership.role === 'leader') return 'berth: leader: this Berth holds the reconciler lease for its store and runs the servers\n';
  const l = leadership.leader;
  const who = l ? `the Berth at pid ${l.pid} on ${l.host}` : 'another Berth';
  return `berth: standby: ${who} holds the reconciler lease for this store. This Berth serves the API, answers MCP requests with STANDBY, and tries to take over every ${retryS}s\n`;
}

/** Berth's entry point: read the config, start, stop cleanly on SIGINT/SIGTERM. */
async function run(): Promise<void> {
  // Berth's own files (database and its WAL, logs, key file, pid files) are readable by its user only.
  // Servers inherit this umask: what they create in their working dirs is private to them too.
  process.umask(0o077);
  let app: Awaited<ReturnType<typeof createApp>>;
  try {
    app = await createApp(loadConfig());
  } catch (err) {
    const message = err instanceof BerthError ? `${err.message} (${err.code})` : String((err as Error)?.stack ?? err);
    process.stderr.write(`berth: cannot start: ${message}\n`);
    process.exit(1);
  }
  const { url } = await app.listen();
  process.stderr.write(`berth: listening on ${url} (data in ${app.config.dataDir}, database ${app.config.databaseUrl.split(':')[0]})\n`);
  process.stderr.write(roleNotice(app.leadership, app.config.leaseRetryS));
  if (app.bootstrapToken) process.stderr.write(bootstrapNotice(app.bootstrapToken.token, app.config.publicUrl));
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write('berth: forced exit\n');
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`berth: ${signal} received, stopping servers\n`);
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`berth: error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void run();
