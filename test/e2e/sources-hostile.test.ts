/**
 * Hostile source archives through a real Berth's API (issue 12, "Sources"): each is refused with its own code,
 * naming the entry, and nothing lands outside the source store (the data dir and /tmp are scanned for strays).
 * The archives are hand-made with src/sources/zip/testing/zip-writer.ts, which writes what real tools refuse to.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeZip, type TestEntry } from '../../src/sources/zip/testing/zip-writer.js';
import { useBerth } from '../support/use-berth.js';

const MAX = 2 * 1024 * 1024;
const ctx = useBerth({ env: { BERTH_SOURCE_MAX_BYTES: String(MAX) } });
/** In every hostile name, so a stray anywhere can be found. */
const MARK = `berth-evil-${randomBytes(4).toString('hex')}`;

interface Refusal {
  status: number;
  code: string;
  message: string;
  entry?: string;
}

async function post(path: string, body: RequestInit["body"], type = 'application/zip', method = 'POST'): Promise<Refusal & { body: unknown }> {
  const res = await fetch(`${ctx.berth.url}${path}`, { method, headers: { ...ctx.berth.authHeaders(), ...(type ? { 'content-type': type } : {}) }, body });
  const json = (await res.json()) as { error?: { code: string; message: string; details?: { entry?: string } } };
  return { status: res.status, code: json.error?.code ?? 'OK', message: json.error?.message ?? '', ...(json.error?.details?.entry ? { entry: json.error.details.entry } : {}), body: json };
}

const zip = (entries: TestEntry[]): Buffer => writeZip(entries);
const ok = { name: 'server.py', data: Buffer.from('print(1)') };

/** Every file under `dir` (relative), skipping what cannot be read. */
function filesUnder(dir: string): string[] {
  try {
    return (readdirSync(dir, { recursive: true }) as string[]).map((p) => relative(dir, join(dir, p)));
  } catch {
    return [];
  }
}

const CORPUS: [string, Buffer, string, number][] = [
  ['path traversal', zip([ok, { name: `../${MARK}-traversal.txt`, data: Buffer.from('owned') }]), 'ZIP_PATH_TRAVERSAL', 400],
  ['a deeper traversal', zip([ok, { name: `src/../../../${MARK}-deep.txt`, data: Buffer.from('owned') }]), 'ZIP_PATH_TRAVERSAL', 400],
  ['an absolute path', zip([ok, { name: `${tmpdir()}/${MARK}-absolute.txt`, data: Buffer.from('owned') }]), 'ZIP_ABSOLUTE_PATH', 400],
  ['a symbolic link', zip([{ name: `${MARK}-link`, data: Buffer.from('/etc/passwd'), mode: 0o120777 }, ok]), 'ZIP_SYMLINK', 400],
  ['a device', zip([{ name: `${MARK}-dev`, mode: 0o020666 }]), 'ZIP_SPECIAL_ENTRY', 400],
  ['two entries with one path', zip([ok, { ...ok, data: Buffer.from('print(2)') }]), 'ZIP_DUPLICATE_ENTRY', 400],
  ['a zip bomb (compression ratio)', zip([ok, { name: `${MARK}-bomb.bin`, data: Buffer.alloc(1_500_000) }]), 'ZIP_RATIO_TOO_HIGH', 413],
  ['an entry that lies about its size', zip([{ name: `${MARK}-liar.txt`, data: Buffer.from('x'.repeat(1000)), method: 'store', declaredSize: 10 }]), 'ZIP_INVALID', 400],
  ['too many entries', zip(Array.from({ length: 10_001 }, (_, i) => ({ name: `f${i}.txt`, data: Buffer.from('x'), method: 'store' as const }))), 'ZIP_TOO_MANY_ENTRIES', 413],
  ['not a zip', Buffer.from(`#!/bin/sh\necho ${MARK}\n`), 'ZIP_INVALID', 400],
  ['an empty body', Buffer.alloc(0), 'ZIP_INVALID', 400],
  ['an archive with no files', zip([{ name: 'empty/' }]), 'ZIP_INVALID', 400],
  ['an upload over BERTH_SOURCE_MAX_BYTES', zip([{ name: `${MARK}-big.bin`, data: randomBytes(MAX + 1024), method: 'store' }]), 'SOURCE_TOO_LARGE', 413],
];

describe('hostile source archives', () => {
  it.each(CORPUS)('refuses %s with its code and stores nothing', async (_what, body, code, status) => {
    const trees = filesUnder(join(ctx.berth.dataDir, 'sources', 'trees')).length;
    const r = await post('/api/sources', body.length === 0 ? undefined : new Uint8Array(body));
    expect(r.code, r.message).toBe(code);
    expect(r.status).toBe(status);
    if (code.startsWith('ZIP_') && code !== 'ZIP_INVALID' && code !== 'ZIP_TOO_MANY_ENTRIES') {
      expect(r.entry, 'the refusal names the entry').toBeDefined();
      expect(r.message).toContain(JSON.stringify(r.entry));
    }
    expect(filesUnder(join(ctx.berth.dataDir, 'sources', 'trees')).length).toBe(trees);
    expect(filesUnder(join(ctx.berth.dataDir, 'sources', 'tmp'))).toStrictEqual([]);
  }, 60_000);

  it('refuses the same archives when they come with a deployment (multipart) or as a new revision (PUT …/source)', async () => {
    const traversal = CORPUS[0]![1];
    const form = new FormData();
    form.set('deployment', JSON.stringify({ name: 'hostile' }));
    form.set('source', new Blob([new Uint8Array(traversal)], { type: 'application/zip' }), 'x.zip');
    const created = await post('/api/deployments', form, '');
    expect(created.code).toBe('ZIP_PATH_TRAVERSAL');
    expect(created.entry).toBe(`../${MARK}-traversal.txt`);
    const list = await ctx.api.call<{ items: { name: string }[] }>('GET', '/api/deployments');
    expect(list.body.items.map((d) => d.name)).not.toContain('hostile');

    // A deployment to replace the source of (a good one), then a bomb for it.
    const good = new FormData();
    good.set('deployment', JSON.stringify({ name: 'victim', start: false }));
    good.set('source', new Blob([new Uint8Array(zip([ok]))], { type: 'application/zip' }), 'ok.zip');
    const made = await post('/api/deployments', good, '');
    expect(made.status, made.message).toBe(201);
    const put = await post('/api/deployments/victim/source', new Uint8Array(CORPUS[3]![1]), 'application/zip', 'PUT');
    expect(put.code).toBe('ZIP_SYMLINK');
    const revs = await ctx.api.call<{ items: unknown[] }>('GET', '/api/deployments/victim/revisions');
    expect(revs.body.items).toHaveLength(1);
  });

  it('refuses what is not a ZIP upload before reading it: another content type (415), a declared size over the limit (413)', async () => {
    expect((await post('/api/sources', new Uint8Array(zip([ok])), 'application/json')).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const res = await fetch(`${ctx.berth.url}/api/sources`, {
      method: 'POST',
      headers: { ...ctx.berth.authHeaders(), 'content-type': 'application/zip', 'content-length': String(MAX + 1) },
      body: new Uint8Array(MAX + 1),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('SOURCE_TOO_LARGE');
  });

  it('accepts a ZIP without an entry point but reports it, and refuses to deploy it (SOURCE_INVALID, 422)', async () => {
    const up = await post('/api/sources', new Uint8Array(zip([{ name: 'README.md', data: Buffer.from('# nothing') }])));
    expect(up.status).toBe(201);
    const body = up.body as { digest: string; report: { problems: { code: string }[] } };
    expect(body.report.problems.map((p) => p.code)).toStrictEqual(['NO_ENTRY_POINT']);
    const form = new FormData();
    form.set('deployment', JSON.stringify({ name: 'no-entry' }));
    form.set('source', new Blob([new Uint8Array(zip([{ name: 'README.md', data: Buffer.from('# nothing') }]))]), 'x.zip');
    const r = await post('/api/deployments', form, '');
    expect(r.status).toBe(422);
    expect(r.code).toBe('SOURCE_INVALID');
  });

  it('left nothing outside the source store: no stray in the data dir or in /tmp', () => {
    // A traversal from the store's temp space lands in the data dir; an absolute path in /tmp (where the data dir is, too).
    expect(filesUnder(ctx.berth.dataDir).filter((p) => p.includes(MARK))).toStrictEqual([]);
    expect(readdirSync(tmpdir()).filter((n) => n.includes(MARK))).toStrictEqual([]);
    expect(existsSync(join(tmpdir(), `${MARK}-absolute.txt`))).toBe(false);
    expect(filesUnder(join(ctx.berth.dataDir, 'sources', 'tmp'))).toStrictEqual([]);
  });
});
