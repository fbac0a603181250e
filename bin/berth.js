#!/usr/bin/env node
// The `berth` command. Run `npm run build` first: this loads the compiled CLI from dist/.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
