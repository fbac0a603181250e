/**
 * The CLI's own config file: which Berth to talk to and the token for each, so the quick start needs
 * no flags after `berth login`. It holds credentials, so it is written 0600 (in a 0700 folder) and
 * refused when others can read it, as ssh refuses a private key.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliFailure } from './failure.js';

export interface CliConfig {
  /** The Berth used when neither --url nor BERTH_URL says otherwise. */
  current?: string;
  servers: Record<string, { token?: string }>;
}

/** BERTH_CONFIG, else $XDG_CONFIG_HOME/berth/config.json, else ~/.config/berth/config.json. */
export function configPath(env: Record<string, string | undefined>): string | undefined {
  if (env.BERTH_CONFIG) return env.BERTH_CONFIG;
  const base = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, '.config') : undefined);
  return base ? join(base, 'berth', 'config.json') : undefined;
}

/** The config at `path` (an empty one when there is none). Throws CONFIG_INSECURE or CONFIG_INVALID. */
export function readConfig(path: string | undefined): CliConfig {
  if (!path || !existsSync(path)) return { servers: {} };
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new CliFailure(`${path} holds API tokens but others can read it (mode ${mode.toString(8)}): run chmod 600 ${path}`, { code: 'CONFIG_INSECURE' });
  }
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<CliConfig>;
    return { ...(typeof parsed.current === 'string' ? { current: parsed.current } : {}), servers: typeof parsed.servers === 'object' && parsed.servers !== null ? parsed.servers : {} };
  } catch (err) {
    throw new CliFailure(`${path} is not valid JSON: ${(err as Error).message}`, { code: 'CONFIG_INVALID' });
  }
}

/** Writes the config atomically with mode 0600 (its folder 0700). */
export function writeConfig(path: string, config: CliConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The same URL however it was typed (trailing slashes). */
export function urlKey(url: string): string {
  return url.replace(/\/+$/, '');
}
