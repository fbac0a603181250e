import { createRequire } from 'node:module';
import type { buildConnector } from 'undici';
import { RemoteAddressForbiddenError, type ConnectGuard } from './ssrf.js';

/**
 * A guard that lets connections go to one origin only (host and port exactly): for a workload's bridge,
 * which Berth reaches at the loopback address its runtime gave, whatever BERTH_REMOTE_ALLOW says about url
 * deployments. Anything else (another port on the same host, a redirect target) is refused before connecting.
 */
export function exactOrigin(url: string): ConnectGuard {
  const u = new URL(url);
  const host = unbracket(u.hostname);
  const port = u.port || defaultPort(u.protocol);
  return {
    connector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
      // undici loads with the first connection, not with Berth (docs/architecture.md, "What loads at start").
      const { buildConnector: build } = createRequire(import.meta.url)('undici') as { buildConnector: typeof buildConnector };
      const base = build(options);
      return (opts, callback) => {
        const to = unbracket(opts.hostname);
        const toPort = String(opts.port || defaultPort(opts.protocol));
        if (to !== host || toPort !== port) return callback(new RemoteAddressForbiddenError(`only ${u.origin} may be reached here, not ${to}:${toPort}`), null);
        base(opts, callback);
      };
    },
  };
}

function unbracket(h: string): string {
  return h.replace(/^\[(.*)\]$/, '$1');
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}
