/**
 * Git sources at deploy time: fetch the ref (or the commit already pinned) into a temporary folder, copy the
 * subdirectory into the source store, and give back the commit and the stored tree's digest, which the revision
 * records. The token comes from its secret reference at this moment and goes no further than git's environment.
 */
import type { GitSourceRef } from '../core/index.js';
import { fetchGit, type GitUrlAllowance } from '../sources/git/index.js';

/** What the resolver needs of the source store (SourceStore.putTree). */
export interface TreeStore {
  putTree(dir: string): Promise<{ digest: string }>;
}

export type GitResolver = (src: GitSourceRef, ctx: { deploymentId?: string; log?(line: string): void }) => Promise<{ commit: string; digest: string }>;

export interface GitResolverDeps {
  store: TreeStore;
  /** The value of a secret reference (`secret_ref:SCOPE:KEY`) for a deployment (SecretsService.resolveRef). */
  resolveToken(ref: string, deploymentId?: string): Promise<string>;
  /** Where checkouts are made (under the data dir); each is removed when stored. */
  workDir: string;
  timeoutMs: number;
  /** file:// URLs and paths (BERTH_GIT_ALLOW_FILE), plain http (tests). */
  allow?: GitUrlAllowance;
}

export function createGitResolver(deps: GitResolverDeps): GitResolver {
  return async (src, ctx) => {
    const token = src.token === undefined ? undefined : await deps.resolveToken(src.token, ctx.deploymentId);
    // A pinned source (a redeploy, a rollback, a restart's re-pin) fetches the very commit it recorded.
    const ref = src.commit ?? src.ref;
    const fetched = await fetchGit(
      { url: src.url, ...(ref === undefined ? {} : { ref }), ...(src.subdir === undefined ? {} : { subdir: src.subdir }), ...(token === undefined ? {} : { token }) },
      { workDir: deps.workDir, timeoutMs: deps.timeoutMs, ...(ctx.log ? { log: ctx.log } : {}), ...(deps.allow ? { allow: deps.allow } : {}) },
    );
    try {
      const stored = await deps.store.putTree(fetched.root);
      ctx.log?.(`git: stored ${src.subdir ? `${src.subdir} of ` : ''}${fetched.commit.slice(0, 12)} as ${stored.digest}`);
      return { commit: fetched.commit, digest: stored.digest };
    } finally {
      await fetched.cleanup();
    }
  };
}
