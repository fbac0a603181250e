import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';

export interface ToolResult {
  content?: { type: string; text?: string }[];
  isError?: boolean;
}

/** The same few client operations over the 1.x and 2.x SDKs, so one test body can run with both. */
export interface McpTestClient {
  readonly sdk: 'v1' | 'v2';
  listToolNames(): Promise<string[]>;
  call(name: string, args?: Record<string, unknown>, opts?: { onprogress?: (p: { progress: number; total?: number }) => void; signal?: AbortSignal; timeout?: number }): Promise<ToolResult>;
  sessionId(): string | undefined;
  close(): Promise<void>;
}

/** Connects to `url`; `headers` (e.g. berth.authHeaders()) go on every request the client sends. */
export type ClientFactory = (url: string, headers?: Record<string, string>) => Promise<McpTestClient>;

export function textOf(r: ToolResult): string {
  return (r.content ?? []).map((c) => c.text ?? '').join('');
}

export const connectV1: ClientFactory = async (url, headers) => {
  const client = new ClientV1({ name: 'berth-e2e-v1', version: '1.0.0' });
  const transport = new TransportV1(new URL(url), headers ? { requestInit: { headers } } : undefined);
  await client.connect(transport);
  return {
    sdk: 'v1',
    async listToolNames() {
      return (await client.listTools()).tools.map((t) => t.name);
    },
    async call(name, args = {}, opts = {}) {
      return (await client.callTool({ name, arguments: args }, undefined, {
        onprogress: opts.onprogress,
        signal: opts.signal,
        timeout: opts.timeout,
        resetTimeoutOnProgress: true,
      })) as ToolResult;
    },
    sessionId: () => transport.sessionId,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
};

export const connectV2: ClientFactory = async (url, headers) => {
  const client = new ClientV2({ name: 'berth-e2e-v2', version: '2.0.0' });
  const transport = new TransportV2(new URL(url), headers ? { requestInit: { headers } } : undefined);
  await client.connect(transport);
  return {
    sdk: 'v2',
    async listToolNames() {
      return (await client.listTools()).tools.map((t) => t.name);
    },
    async call(name, args = {}, opts = {}) {
      return (await client.callTool({ name, arguments: args }, {
        onprogress: opts.onprogress,
        signal: opts.signal,
        timeout: opts.timeout,
        resetTimeoutOnProgress: true,
      })) as ToolResult;
    },
    sessionId: () => transport.sessionId,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
};

export const CLIENTS: [string, ClientFactory][] = [
  ['sdk 1.x', connectV1],
  ['sdk 2.x', connectV2],
];
