import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeploymentService } from '../../control/deployments.js';
import type { LogEntry } from '../../telemetry/logs.js';

const KEEPALIVE_MS = 15_000;

/** Server-Sent Events: the last `tail` lines, then every new line as `event: log`, until the client goes. */
export async function streamLogs(req: IncomingMessage, res: ServerResponse, service: DeploymentService, id: string, tail = 100): Promise<void> {
  const backlog = await service.logs(id, tail);
  let lastSeq = backlog.at(-1)?.seq ?? 0;
  const buffered: LogEntry[] = [];
  let live = false;
  const write = (e: LogEntry) => {
    if (e.seq <= lastSeq) return;
    lastSeq = e.seq;
    res.write(`id: ${e.seq}\nevent: log\ndata: ${JSON.stringify(e)}\n\n`);
  };
  const unsubscribe = await service.followLogs(id, (e) => (live ? write(e) : buffered.push(e)));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
  res.write(': berth log stream\n\n');
  for (const e of backlog) res.write(`id: ${e.seq}\nevent: log\ndata: ${JSON.stringify(e)}\n\n`);
  for (const e of buffered) write(e);
  live = true;
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  const end = () => {
    clearInterval(keepalive);
    unsubscribe();
  };
  req.on('close', end);
  res.on('close', end);
}
