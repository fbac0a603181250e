import { describe, it } from 'vitest';
import { openCgroups } from '../cgroups.js';
import { findEgressTools } from '../network.js';
import { DEFAULT_PATH, resolveCommand } from '../sandbox.js';

/** What the sandbox needs from the host, as the process runtime finds it. */
export type HostNeed = 'bwrap' | 'egress' | 'cgroups';

const INSTALL: Record<HostNeed, string> = {
  bwrap: 'bwrap (Debian package bubblewrap)',
  egress: 'slirp4netns, unshare, nsenter and ip (Debian packages slirp4netns, util-linux, iproute2)',
  cgroups: 'writable cgroups under /sys/fs/cgroup (run as root; v1 memory, pids and cpu hierarchies or v2 with those controllers)',
};

function has(need: HostNeed): boolean {
  if (need === 'bwrap') return resolveCommand('bwrap', DEFAULT_PATH, '/') !== null;
  if (need === 'egress') return !('missing' in findEgressTools(DEFAULT_PATH));
  return !('unavailable' in openCgroups({ root: '/sys/fs/cgroup', scope: `berth-probe-${process.pid}` }));
}

/**
 * True when the host has everything `needs` names. Otherwise, with CI=true, registers a failing
 * test that names what is missing (a suite must not pass by skipping there); locally it warns loudly.
 */
export function hostHas(suite: string, needs: readonly HostNeed[]): boolean {
  const missing = needs.filter((n) => !has(n));
  if (missing.length === 0) return true;
  const what = missing.map((m) => INSTALL[m]).join('; ');
  if (process.env.CI === 'true') {
    describe(suite, () => {
      it('has what it needs on this host', () => {
        throw new Error(`${suite} needs ${what}; .ci/run installs the packages`);
      });
    });
  } else {
    console.warn(`\n!!! SKIPPING ${suite}: missing ${what} !!!\n`);
  }
  return false;
}
