/**
 * The entry of `dist/berth.mjs`: the whole `berth` command in one file with no node_modules beside it, so that a
 * container image (or a host without Berth installed) can run `node berth.mjs bridge --port 8080 -- CMD ARGS`.
 * Built by scripts/bundle.mjs.
 */
import { main } from './main.js';

process.exitCode = await main(process.argv);
