/**
 * `berth deploy ./server.zip`, `berth deploy ./folder`, `berth deploy --dry-run ./x` and `berth update NAME ./x`:
 * a local ZIP (or a folder, packed here) uploaded to Berth, which stores it, detects what it is and runs it.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SourceUpload } from '../api/contract.js';
import type { CliContext } from './context.js';
import { CliFailure } from './context.js';
import { cleanName, hostedFields, type DeployFlags } from './deploy-args.js';
import { packFolder, PackError } from './source-pack.js';
import { formatBytes } from './format.js';

export interface LocalSource {
  kind: 'zip' | 'folder';
  path: string;
  /** Arguments for the server, after the path. */
  args: string[];
}

/** A command line that names a local folder or .zip file (a folder can never be a command), else null. */
export function localSourceOf(commandLine: readonly string[]): LocalSource | null {
  const [first, ...args] = commandLine;
  if (first === undefined) return null;
  const st = existsSync(first) ? statSync(first) : null;
  if (st?.isDirectory()) return { kind: 'folder', path: first, args };
  if (st?.isFile() && /\.zip$/i.test(first)) return { kind: 'zip', path: first, args };
  return null;
}

/** The create body of a source deployment (the server fills in spec.source from the upload). */
export function sourceCreateBody(flags: DeployFlags, src: LocalSource): Record<string, unknown> {
  if (flags.url !== undefined || flags.package || flags.header) throw new Error('a folder or ZIP deploys its own code: --url, --package and --header do not apply');
  const base = path.basename(path.resolve(src.path)).replace(/\.zip$/i, '');
  return {
    name: flags.name ?? cleanName(base),
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.tag ? { tags: flags.tag } : {}),
    ...(flags.public ? { access: 'public' } : {}),
    start: flags.start,
    spec: { type: 'source', args: src.args, ...hostedFields(flags) },
  };
}

/** Runs `fn` with a ZIP of `src`: the file itself, or the folder packed into a temporary ZIP (removed after). */
export async function withZip<T>(ctx: CliContext, src: LocalSource, fn: (zipFile: string) => Promise<T>): Promise<T> {
  if (src.kind === 'zip') return fn(src.path);
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-pack-'));
  try {
    const zip = path.join(dir, 'source.zip');
    let packed;
    try {
      packed = await packFolder(src.path, zip, { onProgress: (files, bytes) => !ctx.json && ctx.err(`packing ${src.path}: ${files} files, ${formatBytes(bytes)}`) });
    } catch (err) {
      if (err instanceof PackError) throw new CliFailure(err.message, { code: 'PACK_FAILED', exitCode: 2 });
      throw err;
    }
    if (!ctx.json) ctx.err(`packed ${packed.files} files (${formatBytes(packed.bytes)}) into a ${formatBytes(packed.zipBytes)} ZIP; uploading…`);
    return await fn(zip);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--dry-run`: what Berth detects in the source, and what stands in the way, without deploying it. */
export async function dryRun(ctx: CliContext, src: LocalSource): Promise<void> {
  const up = await withZip(ctx, src, (zip) => ctx.client.uploadSource(zip));
  if (ctx.json) ctx.printJson(up);
  else for (const line of reportLines(up, src.path)) ctx.out(line);
  if (up.report.problems.length > 0) throw new CliFailure(`${src.path} cannot be deployed as it is: fix the problems above`, { code: 'SOURCE_INVALID' });
}

/** The detection report as a person reads it. */
export function reportLines(up: SourceUpload, label: string): string[] {
  const r = up.report;
  const out = [`Source ${label}: ${up.files} files, ${formatBytes(up.bytes)}, ${up.digest.slice(0, 19)}`];
  if (r.findings.length > 0) {
    out.push('', 'Detected:');
    const w = Math.max(...r.findings.map((f) => f.what.length));
    for (const f of r.findings) out.push(`  ${f.what.padEnd(w)}  ${f.value}   (from ${f.from})`);
  }
  if (r.plan) {
    const steps = [r.plan.install.join(' '), r.plan.language === 'node' && r.plan.build ? r.plan.build.join(' ') : ''].filter((s) => s !== '');
    out.push('', `Berth will: ${steps.length > 0 ? `${steps.join(', then ')}, then ` : ''}run ${r.plan.start.join(' ')}`);
  }
  for (const [title, list] of [['Warnings', r.warnings], ['Problems', r.problems]] as const) {
    if (list.length === 0) continue;
    out.push('', `${title}:`);
    for (const p of list) out.push(`  ${p.code}: ${p.message}`, `    fix: ${p.fix}`);
  }
  if (r.problems.length === 0) out.push('', 'Ready to deploy: run the same command without --dry-run.');
  return out;
}
