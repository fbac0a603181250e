// The server side of the official MCP conformance suite (@modelcontextprotocol/conformance, `server`
// scenarios), written on the official SDK 1.x low-level Server so every answer is under our control.
// It implements the tools, resources and prompts the scenarios ask for (test_simple_text, …) and runs
//
//   node server.mjs stdio   newline-delimited JSON-RPC on stdin/stdout (what Berth's bridge runs)
//   node server.mjs http    Streamable HTTP on 127.0.0.1:$CONFORMANCE_PORT (default: any free port)
//                           at /mcp, one session per client, resumable SSE streams; prints `listening PORT`
//
// In http mode it exits when its stdin closes, so it never outlives the process that started it.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { crc32, deflateSync } from 'node:zlib';
import { serveFixture } from '../fixtures/serve-fixture.mjs';

// The SDK comes from the repository root (its devDependency), never from the copy the conformance
// suite brings along in test/conformance/node_modules, which Node would otherwise find first.
const rootRequire = createRequire(new URL('../../package.json', import.meta.url));
const { Server } = rootRequire('@modelcontextprotocol/sdk/server/index.js');
const { StdioServerTransport } = rootRequire('@modelcontextprotocol/sdk/server/stdio.js');
const { StreamableHTTPServerTransport } = rootRequire('@modelcontextprotocol/sdk/server/streamableHttp.js');
const {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} = rootRequire('@modelcontextprotocol/sdk/types.js');

const mode = process.argv[2];
if (mode !== 'stdio' && mode !== 'http') {
  process.stderr.write('usage: server.mjs stdio|http   (http: port from CONFORMANCE_PORT, default any)\n');
  process.exit(2);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Media made here rather than pasted in: a 2x2 red PNG and a 10 ms 8 kHz silent WAV.

function pngChunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

function redPng(size = 2) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [255, 0, 0]).flat())]);
  const pixels = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(pixels)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]).toString('base64');
}

function silentWav(rate = 8000, ms = 10) {
  const samples = Math.round((rate * ms) / 1000);
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + samples * 2, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(samples * 2, 40);
  return b.toString('base64');
}

const PNG = redPng();
const WAV = silentWav();

// ---------------------------------------------------------------------------------------------
// Tools

const noArgs = { type: 'object', properties: {} };
const text = (t) => ({ type: 'text', text: t });

const TOOLS = [
  { name: 'test_simple_text', description: 'Returns a fixed text', inputSchema: noArgs },
  { name: 'test_image_content', description: 'Returns a small PNG image', inputSchema: noArgs },
  { name: 'test_audio_content', description: 'Returns a short WAV clip', inputSchema: noArgs },
  { name: 'test_embedded_resource', description: 'Returns an embedded text resource', inputSchema: noArgs },
  { name: 'test_multiple_content_types', description: 'Returns text, an image and an embedded resource', inputSchema: noArgs },
  { name: 'test_tool_with_logging', description: 'Sends three info log messages while it runs', inputSchema: noArgs },
  { name: 'test_error_handling', description: 'Always fails with a tool error', inputSchema: noArgs },
  { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100', inputSchema: noArgs },
  {
    name: 'test_sampling',
    description: 'Asks the client to sample an LLM with the given prompt',
    inputSchema: { type: 'object', properties: { prompt: { type: 'string', description: 'What to ask the LLM' } }, required: ['prompt'] },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the user (through the client) for a username and an email address',
    inputSchema: { type: 'object', properties: { message: { type: 'string', description: 'What to show the user' } }, required: ['message'] },
  },
  { name: 'test_elicitation_sep1034_defaults', description: 'Elicits a form whose fields all carry defaults (SEP-1034)', inputSchema: noArgs },
  { name: 'test_elicitation_sep1330_enums', description: 'Elicits a form with every enum flavour (SEP-1330)', inputSchema: noArgs },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
  { name: 'test_reconnection', description: 'Closes its SSE stream mid-call (over HTTP) and answers after the client reconnects', inputSchema: noArgs },
];

const SEP1034_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', title: 'Name', default: 'John Doe' },
    age: { type: 'integer', title: 'Age', minimum: 0, default: 30 },
    score: { type: 'number', title: 'Score', default: 95.5 },
    status: { type: 'string', title: 'Status', enum: ['active', 'inactive', 'pending'], default: 'active' },
    verified: { type: 'boolean', title: 'Verified', default: true },
  },
};

const SEP1330_SCHEMA = {
  type: 'object',
  properties: {
    untitledSingle: { type: 'string', title: 'Untitled single', enum: ['option1', 'option2', 'option3'] },
    titledSingle: {
      type: 'string',
      title: 'Titled single',
      oneOf: [
        { const: 'value1', title: 'First Option' },
        { const: 'value2', title: 'Second Option' },
        { const: 'value3', title: 'Third Option' },
      ],
    },
    legacyEnum: { type: 'string', title: 'Legacy titled', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
    untitledMulti: { type: 'array', title: 'Untitled multi', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
    titledMulti: {
      type: 'array',
      title: 'Titled multi',
      items: {
        anyOf: [
          { const: 'value1', title: 'First Choice' },
          { const: 'value2', title: 'Second Choice' },
          { const: 'value3', title: 'Third Choice' },
        ],
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Resources and prompts

const STATIC_RESOURCES = {
  'test://static-text': { name: 'static-text', description: 'A fixed text resource', mimeType: 'text/plain', text: 'This is the content of the static text resource.' },
  'test://static-binary': { name: 'static-binary', description: 'A fixed PNG image', mimeType: 'image/png', blob: PNG },
  'test://watched-resource': { name: 'watched-resource', description: 'A resource clients can subscribe to', mimeType: 'text/plain', text: 'Watch me.' },
};
const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;
const TEMPLATE_IDS = ['123', '456', '789'];

const PROMPTS = [
  { name: 'test_simple_prompt', description: 'A prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    description: 'A prompt that embeds the resource it is given',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', description: 'A prompt with an image' },
];
const ARG_SUGGESTIONS = ['paris', 'park', 'party', 'test', 'testing', 'tested'];

const LEVELS = LoggingLevelSchema.options; // debug … emergency, in order of severity

/** One MCP server: in http mode one per session, in stdio mode one for the process. */
function buildServer() {
  const server = new Server(
    { name: 'berth-conformance-server', version: '1.0.0' },
    {
      capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} },
      instructions: 'Implements the server scenarios of the MCP conformance suite.',
    },
  );
  let minLevel = 'info';
  const subscriptions = new Set();

  const log = (extra, level, data) =>
    LEVELS.indexOf(level) >= LEVELS.indexOf(minLevel) ? extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'conformance', data } }) : Promise.resolve();

  server.setRequestHandler(SetLevelRequestSchema, async (req) => {
    minLevel = req.params.level;
    return {};
  });

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));

  /** A request to the client on the stream of the tool call that needs it; refused if the client lacks the capability. */
  async function askClient(extra, capability, request, schema) {
    if (!server.getClientCapabilities()?.[capability]) {
      return { error: `the client did not declare the ${capability} capability` };
    }
    try {
      return { result: await extra.sendRequest(request, schema, { timeout: 30_000 }) };
    } catch (err) {
      return { error: `${request.method} failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  const toolError = (message) => ({ isError: true, content: [text(message)] });

  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = req.params.arguments ?? {};
    switch (req.params.name) {
      case 'test_simple_text':
        return { content: [text('This is a simple text response for testing.')] };
      case 'test_image_content':
        return { content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] };
      case 'test_audio_content':
        return { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] };
      case 'test_embedded_resource':
        return { content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] };
      case 'test_multiple_content_types':
        return {
          content: [
            text('Multiple content types test:'),
            { type: 'image', data: PNG, mimeType: 'image/png' },
            { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } },
          ],
        };
      case 'test_tool_with_logging':
        await log(extra, 'info', 'Tool execution started');
        await sleep(50);
        await log(extra, 'info', 'Tool processing data');
        await sleep(50);
        await log(extra, 'info', 'Tool execution completed');
        return { content: [text('Tool with logging executed successfully')] };
      case 'test_error_handling':
        return toolError('This tool intentionally returns an error for testing');
      case 'test_tool_with_progress': {
        const token = req.params._meta?.progressToken;
        for (const progress of [0, 50, 100]) {
          if (progress > 0) await sleep(50);
          if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, total: 100 } });
        }
        return { content: [text('Tool with progress executed successfully')] };
      }
      case 'test_sampling': {
        if (typeof args.prompt !== 'string') throw new McpError(ErrorCode.InvalidParams, 'prompt (string) is required');
        const r = await askClient(
          extra,
          'sampling',
          { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: text(args.prompt) }], maxTokens: 100 } },
          CreateMessageResultSchema,
        );
        if (r.error) return toolError(r.error);
        const reply = r.result.content;
        return { content: [text(`LLM response: ${reply?.type === 'text' ? reply.text : JSON.stringify(reply)}`)] };
      }
      case 'test_elicitation': {
        if (typeof args.message !== 'string') throw new McpError(ErrorCode.InvalidParams, 'message (string) is required');
        const requestedSchema = {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        };
        const r = await askClient(extra, 'elicitation', { method: 'elicitation/create', params: { message: args.message, requestedSchema } }, ElicitResultSchema);
        if (r.error) return toolError(r.error);
        return { content: [text(`User response: action=${r.result.action}, content=${JSON.stringify(r.result.content ?? {})}`)] };
      }
      case 'test_elicitation_sep1034_defaults':
      case 'test_elicitation_sep1330_enums': {
        const sep1034 = req.params.name === 'test_elicitation_sep1034_defaults';
        const r = await askClient(
          extra,
          'elicitation',
          { method: 'elicitation/create', params: { message: sep1034 ? 'Please review your details' : 'Please choose some options', requestedSchema: sep1034 ? SEP1034_SCHEMA : SEP1330_SCHEMA } },
          ElicitResultSchema,
        );
        if (r.error) return toolError(r.error);
        return { content: [text(`Elicitation completed: action=${r.result.action}, content=${JSON.stringify(r.result.content ?? {})}`)] };
      }
      case 'json_schema_2020_12_tool':
        return { content: [text(`Received: ${JSON.stringify(args)}`)] };
      case 'test_reconnection':
        // Over HTTP (with a client on 2025-11-25 or later) the SDK lets us end the POST's SSE stream:
        // the client then polls with GET and Last-Event-ID, and gets the answer from the event store.
        await sleep(50);
        if (extra.closeSSEStream) {
          extra.closeSSEStream();
          await sleep(200);
        }
        return { content: [text('Reconnection test completed successfully')] };
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: Object.entries(STATIC_RESOURCES).map(([uri, r]) => ({ uri, name: r.name, description: r.description, mimeType: r.mimeType })),
  }));

  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template-data', description: 'Data for an id, substituted into the URI', mimeType: 'application/json' }],
  }));

  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    const { uri } = req.params;
    const fixed = STATIC_RESOURCES[uri];
    if (fixed) return { contents: [fixed.blob ? { uri, mimeType: fixed.mimeType, blob: fixed.blob } : { uri, mimeType: fixed.mimeType, text: fixed.text }] };
    const m = TEMPLATE.exec(uri);
    if (m) {
      const id = decodeURIComponent(m[1]);
      return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }] };
    }
    throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
  });

  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });

  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));

  server.setRequestHandler(GetPromptRequestSchema, async (req) => {
    const args = req.params.arguments ?? {};
    const need = (name) => {
      if (typeof args[name] !== 'string') throw new McpError(ErrorCode.InvalidParams, `argument ${name} is required`);
      return args[name];
    };
    switch (req.params.name) {
      case 'test_simple_prompt':
        return { messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] };
      case 'test_prompt_with_arguments':
        return { messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${need('arg1')}', arg2='${need('arg2')}'`) }] };
      case 'test_prompt_with_embedded_resource':
        return {
          messages: [
            { role: 'user', content: { type: 'resource', resource: { uri: need('resourceUri'), mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
            { role: 'user', content: text('Please process the embedded resource above.') },
          ],
        };
      case 'test_prompt_with_image':
        return {
          messages: [
            { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
            { role: 'user', content: text('Please analyze the image above.') },
          ],
        };
      default:
        throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    }
  });

  server.setRequestHandler(CompleteRequestSchema, async (req) => {
    const { ref, argument } = req.params;
    let pool = [];
    if (ref.type === 'ref/prompt' && ref.name === 'test_prompt_with_arguments' && (argument.name === 'arg1' || argument.name === 'arg2')) pool = ARG_SUGGESTIONS;
    else if (ref.type === 'ref/resource' && ref.uri === 'test://template/{id}/data' && argument.name === 'id') pool = TEMPLATE_IDS;
    const values = pool.filter((v) => v.startsWith(argument.value));
    return { completion: { values, total: values.length, hasMore: false } };
  });

  return server;
}

// ---------------------------------------------------------------------------------------------
// Streamable HTTP

/** Events kept so a client can resume a closed SSE stream with Last-Event-ID (SEP-1699). */
class MemoryEventStore {
  #events = new Map(); // eventId -> { streamId, message }
  #seq = 0;

  async storeEvent(streamId, message) {
    const id = `${streamId}.${++this.#seq}`;
    this.#events.set(id, { streamId, message });
    if (this.#events.size > 10_000) this.#events.delete(this.#events.keys().next().value);
    return id;
  }

  async getStreamIdForEventId(eventId) {
    return this.#events.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId, { send }) {
    const last = this.#events.get(lastEventId);
    if (!last) return '';
    let after = false;
    for (const [id, e] of this.#events) {
      if (id === lastEventId) after = true;
      else if (after && e.streamId === last.streamId && e.message && 'jsonrpc' in e.message) await send(id, e.message);
    }
    return last.streamId;
  }
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const MAX_BODY = 4 * 1024 * 1024;

function hostnameOf(value) {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

function fail(res, status, message, code = -32000) {
  if (res.headersSent) return void res.end();
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * The suite's server-sse-polling scenario negotiates 2025-11-25 and then sends MCP-Protocol-Version
 * 2025-03-26 on its requests. The SDK believes the header and then neither primes the SSE stream nor
 * lets a tool close it, so the scenario could only warn. The header must equal the negotiated version
 * anyway: follow the session's (2025-11-25 or later), so the scenario exercises SEP-1699 resumption
 * (priming event, retry field, stream closed mid-call, GET with Last-Event-ID) end to end.
 * The SDK's Node adapter reads rawHeaders, so that is where the value is replaced.
 */
function followNegotiatedVersion(req, negotiated) {
  if (negotiated < '2025-11-25') return;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() === 'mcp-protocol-version' && raw[i + 1] < negotiated) raw[i + 1] = negotiated;
  }
}

async function serveHttp() {
  const sessions = new Map();

  async function handle(req, res) {
    if ((req.url ?? '').split('?')[0] !== '/mcp') return fail(res, 404, 'Not found');
    // DNS-rebinding defence: a loopback server only answers requests addressed to a loopback name,
    // and only browser pages served from one (any port: a gateway in front of us forwards its Origin).
    if (!LOOPBACK.has(hostnameOf(req.headers.host ?? '') ?? '')) return fail(res, 403, `Forbidden: Host ${req.headers.host} is not a loopback name`);
    const origin = req.headers.origin;
    if (origin !== undefined && !LOOPBACK.has(hostnameOf(origin) ?? '')) return fail(res, 403, `Forbidden: Origin ${origin} is not a loopback page`);

    let body;
    if (req.method === 'POST') {
      const raw = await readBody(req);
      try {
        body = JSON.parse(raw);
      } catch {
        return fail(res, 400, 'Parse error: the body is not JSON', -32700);
      }
    }
    const sid = req.headers['mcp-session-id'];
    let session = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (!session) {
      if (sid !== undefined) return fail(res, 404, 'Session not found', -32001);
      const init = (Array.isArray(body) ? body : [body]).find((m) => m && typeof m === 'object' && m.method === 'initialize');
      if (req.method !== 'POST' || !init) return fail(res, 400, 'Bad Request: Mcp-Session-Id header is required');
      const t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: new MemoryEventStore(),
        retryInterval: 500,
        onsessioninitialized: (id) => void sessions.set(id, s),
        onsessionclosed: (id) => void sessions.delete(id),
      });
      const s = { transport: t, version: String(init.params?.protocolVersion ?? '') };
      t.onclose = () => {
        if (t.sessionId) sessions.delete(t.sessionId);
      };
      await buildServer().connect(t);
      session = s;
    } else {
      followNegotiatedVersion(req, session.version);
    }
    await session.transport.handleRequest(req, res, body);
  }

  const http = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err) => fail(res, err?.status ?? 500, err instanceof Error ? err.message : String(err)));
  });

  serveFixture(http, {
    portEnv: 'CONFORMANCE_PORT',
    onStop: () => {
      for (const t of sessions.values()) void t.close().catch(() => {});
    },
  });
}

// ---------------------------------------------------------------------------------------------

if (mode === 'stdio') {
  await buildServer().connect(new StdioServerTransport());
  process.stdin.on('end', () => process.exit(0));
} else {
  await serveHttp();
}
