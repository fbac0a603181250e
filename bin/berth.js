#!/usr/bin/env node
// The `berth` command. Run `npm run build` first: this loads the compiled CLI from dist/.
import { main } from '../dist/cli/main.js';

// A reader that went away (`berth logs -f | head`, `berth --help | less` quit early) ends the command quietly,
// as Unix tools do, instead of an unhandled EPIPE stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

process.exitCode = await main(process.argv);
