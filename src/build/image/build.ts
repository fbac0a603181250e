/**
 * One image from a stored source tree: with Berth's generated Dockerfile (from the detection plan), or with the
 * source's own Dockerfile, whose image is then wrapped in a second tiny build that adds the bridge and runs the
 * image's own ENTRYPOINT + CMD behind it. Either way the image's entry point is
 * `node /berth/berth.mjs bridge --port 8080 --host 0.0.0.0 -- START…` (MCP at /mcp, /health).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { BerthError } from '../../core/errors.js';
import type { DetectReport } from '../detect/types.js';
import { CONTEXT_APP, CONTEXT_BRIDGE, CONTEXT_CA, generateDockerfile, generateWrapDockerfile, MIRROR_ARGS } from '../dockerfile.js';
import { buildContext, localFileDependencies, localRequirementFiles } from './context.js';
import { buildImage, engineError, type BuildResult } from './engine.js';

export interface ImageBuildOptions {
  /** BERTH_BASE_IMAGE: both stages of a generated Dockerfile start from it (node + python3 with venv). */
  baseImage: string;
  /** dist/berth.mjs: the standalone bridge every image gets at /berth/berth.mjs. */
  bridgeFile: string;
  /** BERTH_BUILD_CA_FILE: a PEM the build stage trusts (never the final image). */
  caFile?: string;
  /** BERTH_BUILD_NPM_REGISTRY / BERTH_BUILD_PIP_INDEX_URL: mirrors, as build arguments of the build stage. */
  npmRegistry?: string;
  pipIndexUrl?: string;
  /** BERTH_BUILD_TIMEOUT_S, in ms, for each engine build. */
  timeoutMs: number;
  /** Most bytes a build context may hold (BERTH_SOURCE_MAX_BYTES plus the bridge). */
  maxContextBytes: number;
}

export interface SourceImageRequest {
  root: string;
  report: DetectReport;
  /** The spec's start command (else the plan's, or the own image's ENTRYPOINT + CMD); `args` are appended. */
  start?: string[];
  args?: string[];
  /** The image's tag and labels. */
  tag: string;
  labels: Record<string, string>;
  log(line: string): void;
  progress(message: string): void;
}

export interface SourceImageResult extends BuildResult {
  /** `generated`: Berth's Dockerfile; `own`: the source's Dockerfile, wrapped. */
  dockerfile: 'generated' | 'own';
  /** The command the bridge runs. */
  start: string[];
}

/** Folders a generated build never sends: the install makes them (and a host's copy would not run in the image). */
const GENERATED_IGNORES = { node: ['node_modules'], python: ['.venv', '**/__pycache__'] } as const;

/** The source brings its own Dockerfile or Containerfile (detection's report.dockerfile; an older report: the file). */
export function ownDockerfile(root: string, report: DetectReport): string | null {
  if (report.dockerfile !== undefined) return report.dockerfile;
  return existsSync(join(root, 'Dockerfile')) ? 'Dockerfile' : null;
}

export async function buildSourceImage(docker: Dockerode, opts: ImageBuildOptions, req: SourceImageRequest): Promise<SourceImageResult> {
  const own = ownDockerfile(req.root, req.report);
  if (own) return buildOwn(docker, opts, req, own);
  const plan = req.report.plan;
  if (!plan) {
    const first = req.report.problems[0];
    throw new BerthError('SOURCE_INVALID', `Nothing to build: ${first ? `${first.message} (${first.fix})` : 'detection found no plan'}`, { problems: req.report.problems });
  }
  const start = [...(req.start && req.start.length > 0 ? req.start : plan.start), ...(req.args ?? [])];
  const files = new Set(readdirSync(req.root));
  const mirrors = { npm: plan.language === 'node' && opts.npmRegistry !== undefined, pip: plan.language === 'python' && opts.pipIndexUrl !== undefined };
  const dockerfile = generateDockerfile(plan, files, {
    baseImage: opts.baseImage,
    start,
    localDeps: plan.language === 'node' ? localFileDependencies(req.root) : plan.install.includes('requirements.txt') ? localRequirementFiles(req.root) : [],
    buildCa: opts.caFile !== undefined,
    mirrors,
  });
  const buildargs: Record<string, string> = {};
  if (mirrors.npm) for (const a of MIRROR_ARGS.npm) buildargs[a] = opts.npmRegistry!;
  if (mirrors.pip) for (const a of MIRROR_ARGS.pip) buildargs[a] = opts.pipIndexUrl!;
  req.log(`berth: building ${req.tag} from a generated Dockerfile (${plan.language}, ${plan.packageManager}), start: ${start.join(' ')}`);
  const ctx = buildContext({
    root: req.root,
    prefix: CONTEXT_APP,
    ignore: [...GENERATED_IGNORES[plan.language]],
    extra: [
      { name: 'Dockerfile', content: dockerfile },
      { name: CONTEXT_BRIDGE, path: opts.bridgeFile },
      ...(opts.caFile ? [{ name: CONTEXT_CA, path: opts.caFile }] : []),
    ],
    maxBytes: opts.maxContextBytes,
  });
  req.progress(`sending the build context (${ctx.files} files, ${ctx.bytes} bytes)`);
  const result = await buildImage(docker, { context: ctx.stream, tag: req.tag, labels: req.labels, buildargs, timeoutMs: opts.timeoutMs, log: req.log, progress: req.progress });
  return { ...result, dockerfile: 'generated', start };
}

/** The source's own Dockerfile: build it as is, then wrap the bridge round its ENTRYPOINT + CMD. */
async function buildOwn(docker: Dockerode, opts: ImageBuildOptions, req: SourceImageRequest, dockerfile: string): Promise<SourceImageResult> {
  const inner = `${req.tag}-source`;
  req.log(`berth: building ${inner} from the source's own ${dockerfile}`);
  const ctx = buildContext({ root: req.root, maxBytes: opts.maxContextBytes });
  req.progress(`sending the build context (${ctx.files} files, ${ctx.bytes} bytes)`);
  const first = await buildImage(docker, { context: ctx.stream, tag: inner, labels: req.labels, dockerfile, timeoutMs: opts.timeoutMs, log: req.log, progress: req.progress });
  const config = await docker
    .getImage(inner)
    .inspect()
    .then((i) => i.Config)
    .catch((err: unknown) => {
      throw engineError(err, `Reading the configuration of ${inner}`);
    });
  const own = [...(config.Entrypoint ? [config.Entrypoint].flat() : []), ...(config.Cmd ?? [])];
  const start = [...(req.start && req.start.length > 0 ? req.start : own), ...(req.args ?? [])];
  if (start.length === 0)
    throw new BerthError('BUILD_FAILED', `The source's ${dockerfile} makes an image with no ENTRYPOINT or CMD: Berth has no command to run behind its bridge (add a CMD, or give spec.start)`);
  req.log(`berth: wrapping ${inner} with the bridge, start: ${start.join(' ')}`);
  const wrap = buildContext({ extra: [{ name: 'Dockerfile', content: generateWrapDockerfile(inner, start) }, { name: 'berth.mjs', path: opts.bridgeFile }], maxBytes: opts.maxContextBytes });
  try {
    const result = await buildImage(docker, { context: wrap.stream, tag: req.tag, labels: req.labels, timeoutMs: opts.timeoutMs, log: req.log, progress: req.progress });
    return { ...result, cached: [...first.cached, ...result.cached], steps: result.steps + first.steps, dockerfile: 'own', start };
  } catch (err) {
    if (err instanceof BerthError && err.code === 'BUILD_FAILED' && /RUN \["node"/.test(err.message))
      throw new BerthError(
        'BUILD_FAILED',
        `The image built from the source's ${dockerfile} has no node on its PATH, and Berth's bridge (which serves its stdio command over HTTP at /mcp) is a Node.js program: add Node.js 20 or later to the image (for instance FROM an image with node), or deploy it as an image that serves MCP over HTTP itself\n${err.message}`,
        err.details,
      );
    throw err;
  } finally {
    // The inner tag only served the wrap; its layers stay as the final image's.
    await docker
      .getImage(inner)
      .remove({ noprune: true })
      .catch(() => {});
  }
}
