/**
 * What the isolated bridge's warm pool is primed with (see README "Isolated mode: the warm pool"), and which
 * clients may take a primed process.
 */
import { LATEST_PROTOCOL_VERSION } from '../wire/http.js';
import { isObject } from '../wire/jsonrpc.js';

/** The protocol revision pool processes are primed with; a client asking for another one gets a cold process. */
export const PRIME_VERSION = LATEST_PROTOCOL_VERSION;

/**
 * The client capabilities pool processes are primed with: every client feature the bridge can route, in its
 * plainest form. A client may declare less (the bridge then refuses the server's requests for what it lacks);
 * a client declaring more, or a richer form (sampling.tools, elicitation.url, tasks, experimental…), gets a
 * cold process initialized with its own capabilities.
 */
export const PRIME_CAPABILITIES: Readonly<Record<string, unknown>> = Object.freeze({ roots: { listChanged: true }, sampling: {}, elicitation: { form: {} } });

/** Server→client requests and the client capability each needs. */
export const CLIENT_FEATURE_OF: Readonly<Record<string, string>> = Object.freeze({
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
});


/** The client feature a server→client request `method` needs and `caps` (what the client declared) lacks, if any. */
export function undeclaredFeature(method: string, caps: Record<string, unknown>): string | undefined {
  const feature = CLIENT_FEATURE_OF[method];
  return feature !== undefined && caps[feature] === undefined ? feature : undefined;
}

/**
 * Whether a client that declared `caps` may use a process primed with `primed`: every capability it declares
 * is primed, in no richer a form (each key it sets is set there too; `false` flags fit anything).
 */
export function capabilitiesWithin(caps: unknown, primed: unknown): boolean {
  if (caps === undefined || caps === false) return true;
  if (!isObject(caps)) return caps === primed;
  if (!isObject(primed)) return false;
  for (const [k, v] of Object.entries(caps)) {
    if (v === undefined) continue;
    if (!(k in primed) || !capabilitiesWithin(v, primed[k])) return false;
  }
  return true;
}
