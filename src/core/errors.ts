/**
 * The one error catalogue. Every failure the domain can report has a stable
 * string code and an HTTP status; the edges (API, gateway, CLI) map it once.
 */
export const ERROR_CATALOGUE = {
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid' },
  MOUNT_NOT_ALLOWED: { status: 400, message: 'A working directory or mount lies outside the allowed mount roots, or on a path Berth protects' },
  HOST_NETWORK_NOT_ALLOWED: { status: 400, message: 'spec.network "host" is not allowed on this Berth (BERTH_SANDBOX_HOST_NETWORK)' },
  LIMIT_TOO_HIGH: { status: 400, message: 'A resource limit is above the maximum this Berth allows' },
  NETWORK_UNAVAILABLE: { status: 400, message: 'The requested network policy cannot be provided on this host' },
  PACKAGE_NOT_FOUND: { status: 400, message: 'The package, or that version of it, is not in its registry' },
  PACKAGE_SCRIPTS_NOT_ALLOWED: { status: 400, message: 'install_scripts runs code on the Berth host outside the sandbox; the operator must allow it (BERTH_PACKAGE_INSTALL_SCRIPTS=allow)' },
  PACKAGE_BIN_NOT_FOUND: { status: 400, message: 'The package has no executable to run, or several and spec.bin names none of them' },
  INVALID_JSON: { status: 400, message: 'The body is not valid JSON' },
  ZIP_INVALID: { status: 400, message: 'The upload is not a readable ZIP archive' },
  ZIP_PATH_TRAVERSAL: { status: 400, message: 'A ZIP entry names a path outside the archive (..)' },
  ZIP_ABSOLUTE_PATH: { status: 400, message: 'A ZIP entry names an absolute path' },
  ZIP_SYMLINK: { status: 400, message: 'A ZIP entry is a symbolic link; archives may hold only files and folders' },
  ZIP_SPECIAL_ENTRY: { status: 400, message: 'A ZIP entry is a device, pipe, socket or hard link; archives may hold only files and folders' },
  ZIP_DUPLICATE_ENTRY: { status: 400, message: 'Two ZIP entries name the same path' },
  ZIP_TOO_MANY_ENTRIES: { status: 413, message: 'The ZIP archive has more entries than allowed' },
  ZIP_FILE_TOO_LARGE: { status: 413, message: 'A file in the ZIP archive is larger than allowed' },
  ZIP_TOO_LARGE: { status: 413, message: 'The ZIP archive unpacks to more bytes than allowed' },
  ZIP_RATIO_TOO_HIGH: { status: 413, message: 'A ZIP entry is compressed more than allowed (a zip bomb)' },
  SOURCE_NOT_FOUND: { status: 400, message: 'The spec names a source digest that is not in Berth\'s source store (upload it first: POST /api/sources)' },
  SOURCE_INVALID: { status: 422, message: 'The source cannot be built: detection found problems (see details.problems)' },
  SOURCE_TOO_LARGE: { status: 413, message: 'The source is larger than allowed (BERTH_SOURCE_MAX_BYTES)' },
  GIT_URL_NOT_ALLOWED: { status: 400, message: 'The git URL is not one Berth may fetch from (scheme or address not allowed)' },
  GIT_REF_NOT_FOUND: { status: 400, message: 'The git repository has no such branch, tag or commit' },
  GIT_SUBDIR_NOT_FOUND: { status: 400, message: 'The git repository has no such folder at that ref' },
  GIT_AUTH_FAILED: { status: 400, message: 'The git repository refused the credentials (or needs some)' },
  GIT_FETCH_FAILED: { status: 502, message: 'Fetching the git repository failed' },
  CATALOG_ENTRY_NOT_FOUND: { status: 404, message: 'The catalog has no template with that name' },
  CATALOG_ENTRY_INVALID: { status: 400, message: 'The catalog template is not a valid server.json' },
  CATALOG_ENTRY_EXISTS: { status: 409, message: 'The catalog already has a template with that name' },
  CATALOG_ENTRY_BUILTIN: { status: 409, message: 'Built-in catalog templates cannot be removed or replaced' },
  RUNTIME_UNAVAILABLE: { status: 400, message: 'The runtime this deployment asks for is not available on this Berth' },
  BUILD_FAILED: { status: 422, message: 'Building the image failed (see the build log)' },
  IMAGE_NOT_FOUND: { status: 400, message: 'The image is not in the container engine and cannot be pulled' },
  INVALID_JSONRPC: { status: 400, message: 'The body is not a valid JSON-RPC 2.0 message' },
  UNSUPPORTED_PROTOCOL_VERSION: { status: 400, message: 'Unsupported MCP-Protocol-Version' },
  INVALID_ENVELOPE: { status: 400, message: 'The request _meta envelope is missing or invalid' },
  HEADER_MISMATCH: { status: 400, message: 'The MCP request headers and body disagree' },
  MISSING_SESSION: { status: 400, message: 'Mcp-Session-Id header is required for this request' },
  UNKNOWN_EVENT_ID: { status: 400, message: 'Last-Event-ID names no stream of this session that can be resumed' },
  REMOTE_ADDRESS_FORBIDDEN: { status: 400, message: 'The remote endpoint is at an address Berth may not connect to (see BERTH_REMOTE_ALLOW)' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content-Type must be application/json' },
  NOT_ACCEPTABLE: { status: 406, message: 'Accept must include application/json and text/event-stream' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'HTTP method not allowed on this endpoint' },
  UNAUTHORIZED: { status: 401, message: 'A valid API token is required (Authorization: Bearer TOKEN)' },
  TOKEN_EXPIRED: { status: 401, message: 'The API token has expired' },
  TOKEN_REVOKED: { status: 401, message: 'The API token has been revoked' },
  FORBIDDEN: { status: 403, message: 'The API token does not have the scope this needs' },
  FORBIDDEN_HOST: { status: 403, message: 'The Host header names a host Berth does not serve' },
  FORBIDDEN_ORIGIN: { status: 403, message: 'Requests from this Origin are not allowed' },
  NOT_FOUND: { status: 404, message: 'No such route' },
  DEPLOYMENT_NOT_FOUND: { status: 404, message: 'No deployment with that id' },
  REVISION_NOT_FOUND: { status: 404, message: 'The deployment has no revision with that number' },
  TOKEN_NOT_FOUND: { status: 404, message: 'No API token with that id' },
  SESSION_NOT_FOUND: { status: 404, message: 'Session not found or expired; start a new session with initialize' },
  SESSION_DRAINED: { status: 404, message: 'The deployment moved to a new revision and this session\'s drain time ran out; start a new session with initialize' },
  GROUP_NOT_FOUND: { status: 404, message: 'No group with that name' },
  GROUP_EXISTS: { status: 409, message: 'A group with that name already exists' },
  DEPLOYMENT_EXISTS: { status: 409, message: 'A deployment with that id already exists' },
  NAME_TAKEN: { status: 409, message: 'Another deployment already has that name' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was used for a different request' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still being processed; retry shortly' },
  NOTHING_TO_UPDATE: { status: 400, message: 'The update changes nothing' },
  SECRET_NOT_FOUND: { status: 400, message: 'The request names a secret that does not exist' },
  SECRET_REF_FORBIDDEN: { status: 400, message: 'A deployment may reference only its own secrets and global ones' },
  MASTER_KEY_EXTERNAL: { status: 409, message: 'The master key comes from BERTH_MASTER_KEY; rotate it with BERTH_PREVIOUS_MASTER_KEY and a restart' },
  INVALID_STATE: { status: 409, message: 'The deployment is not in a state that allows this' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than the configured limit' },
  RATE_LIMITED: { status: 429, message: 'Too many requests: slow down and retry after the time Retry-After gives' },
  TOO_MANY_SESSIONS: { status: 503, message: 'The deployment has reached its session limit' },
  SERVER_BUSY: { status: 503, message: 'Berth is reading too many request bodies at once; retry shortly' },
  UPSTREAM_BUSY: { status: 503, message: 'The MCP server is not reading its input fast enough; retry shortly' },
  UPSTREAM_UNAVAILABLE: { status: 503, message: 'The MCP server is not available' },
  STANDBY: { status: 503, message: 'This Berth is a standby: another Berth holds the reconciler lease for this store and runs its servers; send MCP traffic to it' },
  UPSTREAM_FAILED: { status: 502, message: 'The MCP server failed while handling the request' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'The MCP server did not answer in time' },
  ENGINE_UNAVAILABLE: { status: 503, message: 'The container engine cannot be reached (BERTH_CONTAINER_SOCKET)' },
  PUSH_FAILED: { status: 502, message: 'Pushing the image to the registry failed' },
  PACKAGE_REGISTRY_UNAVAILABLE: { status: 502, message: 'The package registry could not be reached' },
  PACKAGE_INSTALL_FAILED: { status: 502, message: 'Installing the package into the package cache failed' },
  CONFIG_INVALID: { status: 500, message: 'Berth configuration is invalid' },
  SECRET_DECRYPT_FAILED: { status: 500, message: 'A stored secret could not be decrypted (another master key, or altered data)' },
  INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? ERROR_CATALOGUE[code].message);
    this.name = 'BerthError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.details = details;
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/** Wrap anything thrown into a BerthError (unknown failures become INTERNAL). */
export function toBerthError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BerthError('INTERNAL', message);
}
