/** Exact versions, and their order, as the drivers need them (no range logic: the registries resolve ranges). */

const SEMVER = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;
/** A PEP 440 public version, loosely: digits and dots, then optional pre/post/dev/local parts. */
const PEP440 = /^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9.]+)?$/i;

/** An exact semver version (`1.2.3`, `1.2.3-rc.1`): what npm installs. */
export function isExactVersion(v: string): boolean {
  return SEMVER.test(v);
}

/** An exact PEP 440 version (`1.2`, `1.2.3rc1`, `2.0.post1`). */
export function isExactPythonVersion(v: string): boolean {
  return PEP440.test(v);
}

function cmpIds(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver order (a prerelease sorts before its release); non-semver strings sort first. */
export function compareVersions(a: string, b: string): number {
  const x = SEMVER.exec(a);
  const y = SEMVER.exec(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return d;
  }
  const [pa, pb] = [x[4], y[4]];
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  const ia = pa.split('.');
  const ib = pb.split('.');
  for (let i = 0; i < Math.max(ia.length, ib.length); i++) {
    if (ia[i] === undefined) return -1;
    if (ib[i] === undefined) return 1;
    const d = cmpIds(ia[i]!, ib[i]!);
    if (d !== 0) return d;
  }
  return 0;
}
