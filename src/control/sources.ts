/**
 * The source use-cases behind the API (issue 12): storing an uploaded ZIP (with the detection report a person
 * reads before deploying), a deployment created around an uploaded source, and a new revision from a new ZIP.
 */
import type { DetectReport } from '../build/detect/index.js';
import { BerthError } from '../core/errors.js';
import type { DeploymentView } from '../core/index.js';
import type { SourceStore } from '../sources/index.js';
import type { Actor, DeploymentService } from './deployments.js';
import type { RevisionService, UpdateResult } from './revisions.js';

/** POST /api/sources: what was stored, and what detection makes of it. */
export interface SourceUpload {
  digest: string;
  files: number;
  bytes: number;
  report: DetectReport;
}

export interface SourceServiceDeps {
  store: Pick<SourceStore, 'putZip'>;
  detect: (root: string) => DetectReport | Promise<DetectReport>;
  deployments: Pick<DeploymentService, 'create' | 'find'>;
  revisions: Pick<RevisionService, 'update'>;
}

export class SourceService {
  constructor(private readonly deps: SourceServiceDeps) {}

  /** Stores a ZIP stream (the extractor's checks, BERTH_SOURCE_MAX_BYTES) and detects what it is. */
  async upload(zip: NodeJS.ReadableStream): Promise<SourceUpload> {
    const s = await this.deps.store.putZip(zip);
    return { digest: s.digest, files: s.files, bytes: s.bytes, report: await this.deps.detect(s.root) };
  }

  /** A create body (the `deployment` part of a multipart upload) with its spec pointing at the uploaded source. */
  static withUpload(body: unknown, digest: string): unknown {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BerthError('VALIDATION_FAILED', 'The deployment part must be a JSON object');
    const b = body as Record<string, unknown>;
    const spec = b.spec ?? {};
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new BerthError('VALIDATION_FAILED', 'deployment.spec must be an object');
    const s = spec as Record<string, unknown>;
    if (s.type !== undefined && s.type !== 'source') throw new BerthError('VALIDATION_FAILED', `deployment.spec.type must be source (or left out) when a source ZIP is uploaded with it, not ${JSON.stringify(s.type)}`);
    if (s.source !== undefined) throw new BerthError('VALIDATION_FAILED', 'deployment.spec.source is set by the uploaded ZIP; leave it out');
    return { ...b, spec: { ...s, type: 'source', source: { kind: 'upload', digest } } };
  }

  /** Creates a source deployment from a body and an uploaded ZIP's digest. */
  create(body: unknown, digest: string, actor: Actor = null): Promise<DeploymentView> {
    return this.deps.deployments.create(SourceService.withUpload(body, digest), actor);
  }

  /** A new revision of a source deployment running `digest` (blue-green, as any update). */
  async replace(ref: string, digest: string, actor: Actor = null): Promise<UpdateResult> {
    const d = await this.deps.deployments.find(ref);
    if (d.spec.type !== 'source') throw new BerthError('VALIDATION_FAILED', `${d.name} is a ${d.spec.type} deployment, not a source one; change its spec with PATCH /api/deployments/${d.id} (berth update)`);
    // Every field of a git source is cleared: the new source is the upload alone.
    const source = { kind: 'upload', digest, url: null, ref: null, subdir: null, token: null, commit: null };
    return this.deps.revisions.update(d.id, { spec: { source } }, actor);
  }
}
