import type { SourceService } from '../../control/sources.js';
import { sendJson } from '../http.js';
import type { Router } from '../router.js';
import { checkZipBody } from '../upload.js';

/** POST /api/sources: a ZIP (application/zip, streamed) into the source store; answers its digest and the detection report. */
export function sourceRoutes(router: Router, sources: SourceService, maxBytes: number): void {
  router.add('POST', '/api/sources', { need: 'deploy', audit: 'source.upload' }, async (ctx) => {
    checkZipBody(ctx.req, maxBytes);
    const out = await sources.upload(ctx.req);
    ctx.audit.target = out.digest;
    ctx.audit.detail = { files: out.files, bytes: out.bytes, problems: out.report.problems.map((p) => p.code) };
    sendJson(ctx.res, 201, out);
  });
}
