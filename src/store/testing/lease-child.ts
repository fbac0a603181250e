/**
 * A separate process that tries a FileLease once (argv: lock path, stale ms), prints
 * `{"held":BOOL,"pid":N}` and waits: SIGTERM releases and exits, SIGKILL leaves the file behind.
 */
import { FileLease } from '../lease/file-lease.js';

const [path, staleMs] = process.argv.slice(2);
const lease = new FileLease({ path: path!, staleMs: Number(staleMs ?? 30_000) });
// The handler is in place before the line that tells the parent it may signal.
process.on('SIGTERM', () => {
  void lease.release().then(() => process.exit(0));
});
const held = await lease.acquire();
process.stdout.write(`${JSON.stringify({ held, pid: process.pid })}\n`);
setInterval(() => undefined, 1 << 30);
