// A hand-written stdio MCP server that asks its client many things at once, for the bounds on server→client
// requests: tools/call `ask_many` {count} sends `count` sampling/createMessage requests without waiting, and answers
// the call with the first error one of them got back (or "all answered" once every one has an answer).
import { createInterface } from 'node:readline';

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const waiting = new Map();

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.method === undefined && msg.id !== undefined) {
    const call = waiting.get(msg.id);
    if (!call) return;
    waiting.delete(msg.id);
    call.left--;
    if (call.done) return;
    if (msg.error) {
      call.done = true;
      out({ jsonrpc: '2.0', id: call.id, result: { content: [{ type: 'text', text: `refused ${msg.id}: ${msg.error.message}` }] } });
    } else if (call.left === 0) {
      call.done = true;
      out({ jsonrpc: '2.0', id: call.id, result: { content: [{ type: 'text', text: 'all answered' }] } });
    }
    return;
  }
  if (msg.id === undefined) return;
  if (msg.method === 'initialize') {
    out({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'asking', version: '0.0.1' } } });
  } else if (msg.method === 'tools/list') {
    out({ jsonrpc: '2.0', id: msg.id, result: { tools: [{ name: 'ask_many', inputSchema: { type: 'object', properties: { count: { type: 'number' } } } }] } });
  } else if (msg.method === 'tools/call') {
    const count = msg.params?.arguments?.count ?? 1;
    const call = { id: msg.id, left: count, done: false };
    for (let i = 1; i <= count; i++) {
      const id = `ask-${msg.id}-${i}`;
      waiting.set(id, call);
      out({ jsonrpc: '2.0', id, method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: `question ${i}` } }], maxTokens: 4 } });
    }
  } else {
    out({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: `no ${msg.method}` } });
  }
});
