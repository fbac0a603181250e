/** `berth history <name|id>`: a deployment's revisions, newest first. */
import type { Command } from 'commander';
import { sourceLabel, type RevisionView, type SourceRef } from '../../core/index.js';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import { renderTable } from '../format.js';

export function registerHistory(program: Command, run: Runner): void {
  withApiOptions(program.command('history').description("a deployment's revisions, newest first").argument('<ref>', 'deployment name or id')).action(
    (ref: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const { items } = await ctx.client.revisions(ref);
        if (ctx.json) {
          ctx.printJson(items);
          return;
        }
        ctx.out(renderTable(['REV', '', 'REASON', 'CREATED', 'BY', 'WHAT'], items.map(row)));
      }),
  );
}

function row(r: RevisionView): string[] {
  const mark = r.serving && r.current ? 'serving' : r.serving ? 'serving (old)' : r.current ? 'wanted' : '';
  const reason = r.reason === 'rollback' && r.from_revision !== null ? `rollback to ${r.from_revision}` : r.reason;
  const s = r.spec;
  const what = s.type === 'url' ? s.endpoint : s.type === 'package' ? `${s.registry}:${s.name}@${s.version ?? 'latest'} ${s.args.join(' ')}`.trim() : s.type === 'source' ? sourceWhat(s.source, r.source_digest) : s.type === 'image' ? `image ${s.image}` : [s.command, ...s.args].join(' ');
  return [String(r.number), mark, reason, r.created_at.replace('T', ' ').slice(0, 19), r.created_by ?? '', what.length > 60 ? `${what.slice(0, 57)}...` : what];
}

/** A source revision: its stored tree's digest (short) first, so the table's cut never hides it; a git one with its URL and commit. */
function sourceWhat(source: SourceRef, digest: string | null): string {
  if (source.kind === 'upload') return sourceLabel(source);
  // The commit and the digest first, so the table's cut takes the end of a long URL, never them.
  const where = sourceLabel({ ...source, commit: undefined }).slice(4);
  return `git ${source.commit ? `@${source.commit.slice(0, 12)} ` : ''}${digest === null ? '' : `${digest.slice(0, 19)} `}${where}`;
}
