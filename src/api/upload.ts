/**
 * Request bodies that carry a source ZIP (issue 12): a raw `application/zip` body, or a `multipart/form-data` create
 * with a `deployment` JSON field and a `source` ZIP part (busboy). The ZIP is streamed into the source store, never
 * held in memory; the JSON field is bounded. Whatever is refused leaves nothing behind but the refusal.
 */
import type { IncomingMessage } from 'node:http';
import type busboy from 'busboy';
import { BerthError } from '../core/errors.js';

const ZIP_TYPES = ['application/zip', 'application/x-zip-compressed', 'application/octet-stream'];

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function isMultipart(req: IncomingMessage): boolean {
  return mediaType(req) === 'multipart/form-data';
}

/** Refuses a body that is not a ZIP, or that declares more than `maxBytes`, before reading it. */
export function checkZipBody(req: IncomingMessage, maxBytes: number): void {
  const type = mediaType(req);
  if (!ZIP_TYPES.includes(type)) {
    req.resume();
    throw new BerthError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/zip${type ? `, not ${JSON.stringify(type.slice(0, 80))}` : ''}`);
  }
  checkDeclaredSize(req, maxBytes);
}

function checkDeclaredSize(req: IncomingMessage, maxBytes: number): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    throw new BerthError('SOURCE_TOO_LARGE', `The upload is ${declared} bytes; at most ${maxBytes} are allowed (BERTH_SOURCE_MAX_BYTES)`, { max: maxBytes });
  }
}

/**
 * Reads a multipart create: `deployment` (JSON, at most `jsonLimit` bytes) and `source` (a ZIP handed to `store` as
 * it streams). Both are required; other parts are refused.
 */
export async function readSourceMultipart<T>(req: IncomingMessage, opts: { maxBytes: number; jsonLimit: number; store: (zip: NodeJS.ReadableStream) => Promise<T> }): Promise<{ deployment: unknown; stored: T }> {
  // The whole multipart body is bounded too: the ZIP plus the JSON field and the part headers.
  checkDeclaredSize(req, opts.maxBytes + opts.jsonLimit + 64 * 1024);
  // Loaded with the first multipart upload, not with Berth.
  const { default: makeBusboy } = await import('busboy');
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = makeBusboy({ headers: req.headers, limits: { files: 1, fields: 1, parts: 3, fieldSize: opts.jsonLimit, fieldNameSize: 64, headerPairs: 20 } });
    } catch (err) {
      req.resume();
      reject(new BerthError('VALIDATION_FAILED', `Not a readable multipart body: ${(err as Error).message}`));
      return;
    }
    let settled = false;
    let deployment: string | undefined;
    let upload: Promise<T> | undefined;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      // The rest of the body is read and dropped, so the client gets the answer.
      req.resume();
      reject(err);
    };
    bb.on('field', (name, value, info) => {
      if (name !== 'deployment') return fail(new BerthError('VALIDATION_FAILED', `Unknown form field ${JSON.stringify(name.slice(0, 64))}: send "deployment" (JSON) and "source" (the ZIP)`));
      if (info.valueTruncated) return fail(new BerthError('PAYLOAD_TOO_LARGE', `The deployment field is larger than ${opts.jsonLimit} bytes`));
      deployment = value;
    });
    bb.on('file', (name, stream) => {
      if (name !== 'source') {
        stream.resume();
        return fail(new BerthError('VALIDATION_FAILED', `Unknown file part ${JSON.stringify(name.slice(0, 64))}: the ZIP goes in the part named "source"`));
      }
      upload = opts.store(stream);
      upload.catch(fail);
    });
    // busboy says partsLimit when the count reaches it (the third part), files/fieldsLimit when one more comes.
    for (const ev of ['partsLimit', 'filesLimit', 'fieldsLimit'] as const) {
      bb.on(ev, () => fail(new BerthError('VALIDATION_FAILED', 'A multipart create has two parts: "deployment" (JSON) and "source" (the ZIP)')));
    }
    bb.on('error', (err: Error) => fail(new BerthError('VALIDATION_FAILED', `Not a readable multipart body: ${err.message}`)));
    bb.on('close', () => {
      if (settled) return;
      if (!upload) return fail(new BerthError('VALIDATION_FAILED', 'The multipart body has no "source" part (the ZIP)'));
      if (deployment === undefined) return fail(new BerthError('VALIDATION_FAILED', 'The multipart body has no "deployment" field (the deployment as JSON)'));
      let parsed: unknown;
      try {
        parsed = JSON.parse(deployment);
      } catch {
        return fail(new BerthError('INVALID_JSON', 'The deployment field is not valid JSON'));
      }
      upload.then((stored) => {
        if (settled) return;
        settled = true;
        resolve({ deployment: parsed, stored });
      }, fail);
    });
    req.on('error', fail);
    req.pipe(bb);
  });
}
