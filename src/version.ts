import { readFileSync } from 'node:fs';

/** Set by scripts/bundle.mjs in the single-file `dist/berth.mjs`, which has no package.json beside it. */
declare const __BERTH_VERSION__: string | undefined;

/** Berth's version, from package.json (one level above both src/ and dist/). */
export const VERSION: string = (() => {
  if (typeof __BERTH_VERSION__ === 'string') return __BERTH_VERSION__;
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
