// A bare TCP relay, run as its own process by the bench: `node --import tsx bench/tcp-relay.ts UPSTREAM_URL`.
// It copies bytes both ways and does nothing else (no HTTP parsing, no routing, no counting), so its
// cost is the least any Node.js process in the request path can add on this machine. Prints
// `listening PORT`; exits when its stdin closes (the bench's lifeline).
import { createConnection, createServer, type Socket } from 'node:net';

const upstream = new URL(process.argv[2] ?? '');
const upstreamPort = Number(upstream.port || 80);

/** Bytes from `from` go to `to`, with back-pressure; either side's end or failure ends both. */
function relay(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.once('end', () => to.end());
  from.once('error', () => to.destroy());
  from.once('close', () => to.destroy());
}

const server = createServer({ noDelay: true }, (client) => {
  const up = createConnection({ host: upstream.hostname, port: upstreamPort, noDelay: true });
  relay(client, up);
  relay(up, client);
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.stdin.resume();
process.stdin.once('end', () => process.exit(0));
