/**
 * RevisionImages: one image per revision (issue 12, "Build and push"), built once from the stored source tree and
 * reused by every later start: restarts, replicas, scale from zero and a restarted Berth find it by its tag and
 * labels (never rebuilt per run). Concurrent calls for one revision share one build. With BERTH_REGISTRY set the
 * image is pushed and `REF@sha256:…` is recorded on the revision; a host that lacks the image pulls it by digest.
 */
import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import type { DetectReport } from '../build/detect/index.js';
import {
  buildSourceImage,
  engineError,
  IMAGE_LABEL_BRIDGE,
  IMAGE_LABEL_BUILD_KEY,
  IMAGE_LABEL_DEPLOYMENT,
  IMAGE_LABEL_REVISION,
  IMAGE_LABEL_SOURCE,
  pullImage,
  pushImage,
  splitRef,
  type ImageBuildOptions,
} from '../build/image/index.js';
import { BerthError } from '../core/errors.js';
import { DEPLOYMENT_ID_PATTERN } from '../core/ids.js';
import type { Config } from '../config/config.js';
import type { DeploymentStore } from '../store/types.js';

export interface ImageRequest {
  deploymentId: string;
  revision: number;
  /** The stored source's digest (sha256:…), recorded as the image's `berth.source-digest` label. */
  digest: string;
  /** The stored source tree (read-only). */
  root: string;
  report: DetectReport;
  start?: string[];
  args?: string[];
}

export interface ImageContext {
  log(line: string): void;
  progress(message: string): void;
}

export interface RevisionImages {
  /**
   * The revision's image: built once from the stored tree (Berth's generated Dockerfile, or the source's own
   * Dockerfile with the bridge wrapped round its command), reused by restarts, replicas and scale-from-zero;
   * pushed when a registry is configured; the ref (with @digest when pushed) recorded on the revision.
   * Its entry point is `node /berth/berth.mjs bridge --port 8080 --host 0.0.0.0 -- START…` (MCP at /mcp, /health).
   */
  imageFor(req: ImageRequest, ctx: ImageContext): Promise<{ ref: string; digest: string | null }>;
}

export interface ImageBuildsDeps {
  docker: Dockerode;
  store: Pick<DeploymentStore, 'getRevision' | 'setRevisionImage'>;
  build: ImageBuildOptions;
  /** BERTH_REGISTRY (host[:port][/prefix]); unset: images stay in the engine, tagged `localhost/berth/…`. */
  registry?: string;
  /** BERTH_REGISTRY_INSECURE: push and pull over plain HTTP. */
  registryInsecure?: boolean;
}

/** `REGISTRY/berth/<deploymentId>:r<revision>` (REGISTRY: BERTH_REGISTRY, else `localhost`). */
export function imageTag(registry: string | undefined, deploymentId: string, revision: number): string {
  return `${registry ?? 'localhost'}/berth/${deploymentId}:r${revision}`;
}

type Inspect = Awaited<ReturnType<Dockerode.Image['inspect']>>;

/**
 * What decides an image's content, hashed: the source tree, what detection made of it, the spec's start and args,
 * and the base image. Two revisions with the same key (a rollback, an update that changed only env or limits)
 * run the same image.
 */
export function buildKey(req: ImageRequest, baseImage: string): string {
  const what = JSON.stringify({ digest: req.digest, report: req.report, start: req.start ?? null, args: req.args ?? [], baseImage });
  return `sha256:${createHash('sha256').update(what).digest('hex')}`;
}

export function createImageBuilds(deps: ImageBuildsDeps): RevisionImages {
  const inflight = new Map<string, Promise<{ ref: string; digest: string | null }>>();
  const insecure = deps.registryInsecure === true;

  async function inspect(ref: string): Promise<Inspect | null> {
    try {
      return await deps.docker.getImage(ref).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw engineError(err, `Looking up ${ref}`);
    }
  }

  /** A revision's image of this deployment built with `key` (the newest revision's), or null. */
  async function sameBuild(deploymentId: string, key: string): Promise<{ id: string; revision: string } | null> {
    const { repo } = splitRef(imageTag(deps.registry, deploymentId, 1));
    let found: Dockerode.ImageInfo[];
    try {
      // One label filter: Podman 4.3 answers two label filters with nothing, even where both match.
      found = await deps.docker.listImages({ filters: { label: [`${IMAGE_LABEL_DEPLOYMENT}=${deploymentId}`] } });
    } catch (err) {
      throw engineError(err, 'Listing images');
    }
    // The build key is matched here (and the deployment again: an engine that ignored the filter would hand back any
    // image). Only a revision's tagged image counts: Podman labels a multi-stage build's untagged stages too.
    const match = found
      .filter((i) => i.Labels?.[IMAGE_LABEL_DEPLOYMENT] === deploymentId && i.Labels[IMAGE_LABEL_BUILD_KEY] === key)
      .filter((i) => (i.RepoTags ?? []).some((t) => t.startsWith(`${repo}:r`)))
      .sort((a, b) => Number(b.Labels?.[IMAGE_LABEL_REVISION] ?? 0) - Number(a.Labels?.[IMAGE_LABEL_REVISION] ?? 0))[0];
    return match ? { id: match.Id, revision: match.Labels?.[IMAGE_LABEL_REVISION] ?? '?' } : null;
  }

  /** Pushes (when a registry is configured) and records the image on the revision. */
  async function publish(req: ImageRequest, tag: string, ctx: ImageContext): Promise<{ ref: string; digest: string | null }> {
    let digest: string | null = null;
    if (deps.registry !== undefined) {
      ctx.progress(`pushing image ${tag}`);
      digest = await pushImage(deps.docker, tag, { insecure, timeoutMs: deps.build.timeoutMs, log: ctx.log });
      ctx.log(`berth: pushed ${tag}@${digest}`);
    }
    await deps.store.setRevisionImage(req.deploymentId, req.revision, digest ? `${tag}@${digest}` : tag);
    return { ref: tag, digest };
  }

  async function resolve(req: ImageRequest, ctx: ImageContext): Promise<{ ref: string; digest: string | null }> {
    const tag = imageTag(deps.registry, req.deploymentId, req.revision);
    const recorded = (await deps.store.getRevision(req.deploymentId, req.revision))?.image ?? null;
    const recordedDigest = recorded?.startsWith(`${tag}@`) ? recorded.slice(tag.length + 1) : null;
    const local = await inspect(tag);
    if (local && local.Config?.Labels?.[IMAGE_LABEL_SOURCE] === req.digest && local.Config.Labels[IMAGE_LABEL_DEPLOYMENT] === req.deploymentId) {
      ctx.log(`berth: reusing the image ${tag} of revision ${req.revision}`);
      if (recorded === tag && deps.registry === undefined) return { ref: tag, digest: null };
      if (recordedDigest) return { ref: tag, digest: recordedDigest };
      return publish(req, tag, ctx); // built, but not pushed or not recorded yet (Berth stopped in between)
    }
    if (!local && recordedDigest && deps.registry !== undefined) {
      // Pushed from here or another Berth: the registry has it, so this host pulls it instead of building.
      ctx.progress(`pulling image ${tag}@${recordedDigest}`);
      try {
        const { repo } = splitRef(tag);
        await pullImage(deps.docker, `${repo}@${recordedDigest}`, { insecure, timeoutMs: deps.build.timeoutMs, log: ctx.log });
        await deps.docker.getImage(`${repo}@${recordedDigest}`).tag({ repo, tag: `r${req.revision}` });
        return { ref: tag, digest: recordedDigest };
      } catch (err) {
        if (err instanceof BerthError && err.code === 'ENGINE_UNAVAILABLE') throw err;
        ctx.log(`berth: pulling ${tag}@${recordedDigest} failed (${(err as Error).message}); building it again`);
      }
    }
    const key = buildKey(req, deps.build.baseImage);
    const same = await sameBuild(req.deploymentId, key);
    if (same) {
      // Another revision of this deployment was built from exactly this (a rollback, an env-only update): its
      // image gets this revision's tag too; nothing is built.
      await deps.docker.getImage(same.id).tag(splitRef(tag));
      ctx.log(`berth: reusing the image of revision ${same.revision} (${same.id.slice(0, 19)}): built from the same source, start and base image`);
      return publish(req, tag, ctx);
    }
    ctx.progress(`building image ${tag}`);
    const labels = { [IMAGE_LABEL_DEPLOYMENT]: req.deploymentId, [IMAGE_LABEL_REVISION]: String(req.revision), [IMAGE_LABEL_SOURCE]: req.digest, [IMAGE_LABEL_BUILD_KEY]: key, [IMAGE_LABEL_BRIDGE]: '/berth/berth.mjs' };
    const built = await buildSourceImage(deps.docker, deps.build, { root: req.root, report: req.report, ...(req.start ? { start: req.start } : {}), ...(req.args ? { args: req.args } : {}), tag, labels, log: ctx.log, progress: ctx.progress });
    ctx.log(`berth: built ${tag} (${built.id.slice(0, 19)}), ${built.cached.length} of ${built.steps} steps from the cache`);
    return publish(req, tag, ctx);
  }

  return {
    imageFor(req, ctx) {
      if (!DEPLOYMENT_ID_PATTERN.test(req.deploymentId)) return Promise.reject(new BerthError('VALIDATION_FAILED', `Invalid deployment id ${JSON.stringify(req.deploymentId)}`));
      if (!Number.isInteger(req.revision) || req.revision < 1) return Promise.reject(new BerthError('VALIDATION_FAILED', `Invalid revision ${req.revision}`));
      const key = `${req.deploymentId}:${req.revision}`;
      const running = inflight.get(key);
      if (running) {
        ctx.log(`berth: waiting for the build of ${key} already under way`);
        return running;
      }
      const p = resolve(req, ctx).finally(() => inflight.delete(key));
      inflight.set(key, p);
      return p;
    },
  };
}

/** The build options from Berth's configuration; `bridgeFile` is dist/berth.mjs. */
export function imageBuildsConfig(config: Config, bridgeFile: string): Pick<ImageBuildsDeps, 'build' | 'registry' | 'registryInsecure'> {
  return {
    build: {
      baseImage: config.baseImage,
      bridgeFile,
      ...(config.buildCaFile ? { caFile: config.buildCaFile } : {}),
      ...(config.buildNpmRegistry ? { npmRegistry: config.buildNpmRegistry } : {}),
      ...(config.buildPipIndexUrl ? { pipIndexUrl: config.buildPipIndexUrl } : {}),
      timeoutMs: config.buildTimeoutS * 1000,
      // The source tree, plus the bridge and a CA.
      maxContextBytes: config.sourceMaxBytes + 16 * 1024 * 1024,
    },
    ...(config.registry ? { registry: config.registry } : {}),
    registryInsecure: config.registryInsecure === 'true',
  };
}
