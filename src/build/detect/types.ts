/** What source detection found, as a person reads it before any build starts (issue 12, "Detection and validation"). */

/** One finding: what was detected, and the file that says so. */
export interface Finding {
  what: string;
  value: string;
  /** The file it comes from, relative to the source root (or `default` when nothing said). */
  from: string;
}

/** Something that stops a build, with a stable code and how to fix it. */
export interface Problem {
  code: DetectProblemCode;
  message: string;
  fix: string;
}

export type DetectProblemCode =
  | 'NO_ENTRY_POINT'
  | 'NO_START_COMMAND'
  | 'PACKAGE_JSON_INVALID'
  | 'PYPROJECT_INVALID'
  | 'NO_MCP_SDK'
  | 'LOCKFILE_CONFLICT'
  | 'TYPESCRIPT_NOT_BUILT'
  | 'SMITHERY_INVALID'
  | 'SMITHERY_COMMAND_DYNAMIC'
  | 'DOCKERFILE_ONLY';

/** An environment variable the server reads, as its manifest (smithery.yaml configSchema) describes it. */
export interface EnvHint {
  name: string;
  required: boolean;
  description?: string;
  default?: string;
  /** Its name says key, token, secret or password: give it as a secret. */
  secret: boolean;
  from: string;
}

/** How the server talks: stdio (Berth bridges it), or HTTP it serves itself on `port` at `path`. */
export type TransportInfo = { kind: 'stdio'; from: string } | { kind: 'http'; port: number | null; path: string; from: string };

export interface NodePlan {
  language: 'node';
  packageManager: 'npm' | 'pnpm' | 'yarn-classic' | 'yarn-berry' | 'bun';
  /** The install command, e.g. `npm ci` (with a lockfile) or `npm install`. */
  install: string[];
  /** The build step, when the package has a `build` script. */
  build: string[] | null;
  /** How the server starts, e.g. `node dist/index.js`. */
  start: string[];
  /** The Node.js version asked for (engines.node or .nvmrc), or null. */
  nodeVersion: string | null;
  /** A TypeScript project (tsconfig.json or a .ts entry). */
  typescript: boolean;
}

export interface PythonPlan {
  language: 'python';
  packageManager: 'pip' | 'uv' | 'poetry' | 'pdm';
  /** The install command, e.g. `pip install -r requirements.txt` or `uv sync --frozen`. */
  install: string[];
  /** How the server starts: a console script, `python -m PACKAGE`, or `python server.py`. */
  start: string[];
  /** The Python version asked for (requires-python or .python-version), or null. */
  pythonVersion: string | null;
}

/** The report `berth deploy --dry-run` prints and the API returns. */
export interface DetectReport<P extends NodePlan | PythonPlan = NodePlan | PythonPlan> {
  plan: P | null;
  findings: Finding[];
  /** Worth knowing, not fatal (no MCP SDK dependency, several lockfiles). */
  warnings: Problem[];
  /** Fatal: no build should start. */
  problems: Problem[];
  /** The source's own Dockerfile or Containerfile (relative to the root): the image builder uses it as is. */
  dockerfile?: string | null;
  /** stdio or HTTP (port, path), and from what. */
  transport?: TransportInfo;
  /** Environment variables the manifest says the server reads (smithery.yaml). */
  env?: EnvHint[];
}
