import { join, resolve } from 'node:path';

/** Written by the global setup when `tsc -p tsconfig.build.json` failed. */
export const BUILD_FAILED_MARKER = join(resolve(import.meta.dirname, '../..'), 'dist/.build-failed');
