// `npx tsx bench/tool-corpus.ts`: makes bench/data/tool-corpus.json, the tools of real MCP servers from npm, for the
// tool-search benchmark (bench/tool-search.ts). Each package is installed from the npm registry into a scratch
// folder, started over stdio (with placeholder credentials where it asks for some: they are listed, never called)
// and asked tools/list by the MCP SDK client; a server that does not list tools within 30 s is left out and said so.
// The corpus is committed, so the benchmark itself needs no network; run this again to refresh it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ROOT } from '../test/support/berth-process.js';

interface Candidate {
  /** The short name tools are prefixed with (as a group member). */
  server: string;
  pkg: string;
  /** The executable (npm bin) when the package has several. */
  bin?: string;
  args?: string[];
  env?: Record<string, string>;
}

const DUMMY = 'placeholder-not-a-real-key';
const CANDIDATES: Candidate[] = [
  { server: 'everything', pkg: '@modelcontextprotocol/server-everything', args: ['stdio'] },
  { server: 'fs', pkg: '@modelcontextprotocol/server-filesystem', args: ['/tmp'] },
  { server: 'memory', pkg: '@modelcontextprotocol/server-memory' },
  { server: 'thinking', pkg: '@modelcontextprotocol/server-sequential-thinking' },
  { server: 'github', pkg: '@modelcontextprotocol/server-github', env: { GITHUB_PERSONAL_ACCESS_TOKEN: DUMMY } },
  { server: 'gitlab', pkg: '@modelcontextprotocol/server-gitlab', env: { GITLAB_PERSONAL_ACCESS_TOKEN: DUMMY } },
  { server: 'slack', pkg: '@modelcontextprotocol/server-slack', env: { SLACK_BOT_TOKEN: DUMMY, SLACK_TEAM_ID: 'T000' } },
  { server: 'maps', pkg: '@modelcontextprotocol/server-google-maps', env: { GOOGLE_MAPS_API_KEY: DUMMY } },
  { server: 'brave', pkg: '@modelcontextprotocol/server-brave-search', env: { BRAVE_API_KEY: DUMMY } },
  { server: 'postgres', pkg: '@modelcontextprotocol/server-postgres', args: ['postgres://postgres@127.0.0.1:5432/test'] },
  { server: 'redis', pkg: '@modelcontextprotocol/server-redis', args: ['redis://127.0.0.1:6379'] },
  { server: 'puppeteer', pkg: '@modelcontextprotocol/server-puppeteer', env: { PUPPETEER_SKIP_DOWNLOAD: 'true' } },
  { server: 'everart', pkg: '@modelcontextprotocol/server-everart', env: { EVERART_API_KEY: DUMMY } },
  { server: 'awskb', pkg: '@modelcontextprotocol/server-aws-kb-retrieval', env: { AWS_ACCESS_KEY_ID: DUMMY, AWS_SECRET_ACCESS_KEY: DUMMY, AWS_REGION: 'us-east-1' } },
  { server: 'playwright', pkg: '@playwright/mcp' },
  { server: 'context7', pkg: '@upstash/context7-mcp' },
  { server: 'k8s', pkg: 'mcp-server-kubernetes' },
  { server: 'commander', pkg: '@wonderwhy-er/desktop-commander' },
  { server: 'firecrawl', pkg: 'firecrawl-mcp', env: { FIRECRAWL_API_KEY: DUMMY } },
  { server: 'tavily', pkg: 'tavily-mcp', env: { TAVILY_API_KEY: DUMMY } },
  { server: 'exa', pkg: 'exa-mcp-server', env: { EXA_API_KEY: DUMMY } },
  { server: 'notion', pkg: '@notionhq/notion-mcp-server', env: { NOTION_TOKEN: DUMMY } },
  { server: 'browser', pkg: '@executeautomation/playwright-mcp-server' },
  { server: 'mysql', pkg: '@benborla29/mcp-server-mysql', env: { MYSQL_HOST: '127.0.0.1', MYSQL_USER: 'x', MYSQL_PASS: 'x', MYSQL_DB: 'x' } },
  { server: 'youtube', pkg: '@kimtaeyoon83/mcp-server-youtube-transcript' },
  { server: 'stripe', pkg: '@stripe/mcp', args: ['--tools=all', `--api-key=sk_test_${DUMMY}`] },
  { server: 'supabase', pkg: '@supabase/mcp-server-supabase', args: [`--access-token=${DUMMY}`] },
  { server: 'airtable', pkg: 'airtable-mcp-server', env: { AIRTABLE_API_KEY: DUMMY } },
  { server: 'heroku', pkg: '@heroku/mcp-server', env: { HEROKU_API_KEY: DUMMY } },
  { server: 'lara', pkg: '@translated/lara-mcp', env: { LARA_ACCESS_KEY_ID: DUMMY, LARA_ACCESS_KEY_SECRET: DUMMY } },
];

async function listTools(dir: string, c: Candidate): Promise<{ version: string; tools: unknown[] }> {
  const pkgDir = join(dir, 'node_modules', ...c.pkg.split('/'));
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string; bin?: string | Record<string, string> };
  const bins = typeof manifest.bin === 'string' ? { x: manifest.bin } : (manifest.bin ?? {});
  const entry = c.bin ? bins[c.bin] : Object.values(bins)[0];
  if (!entry) throw new Error('no bin');
  const transport = new StdioClientTransport({ command: process.execPath, args: [join(pkgDir, entry), ...(c.args ?? [])], env: { PATH: process.env.PATH ?? '', HOME: dir, ...c.env }, stderr: 'ignore', cwd: dir });
  const client = new Client({ name: 'berth-tool-corpus', version: '1.0.0' });
  const timer = setTimeout(() => void transport.close(), 30_000);
  try {
    await client.connect(transport);
    const tools: unknown[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      tools.push(...page.tools.map((t) => ({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema })));
      cursor = page.nextCursor;
    } while (cursor);
    return { version: manifest.version, tools };
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => {});
  }
}

const work = mkdtempSync(join(tmpdir(), 'berth-tool-corpus-'));
const out: { server: string; package: string; version: string; tools: unknown[] }[] = [];
try {
  for (const c of CANDIDATES) {
    const dir = join(work, c.server);
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', dir, c.pkg], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, PUPPETEER_SKIP_DOWNLOAD: 'true' } });
      const { version, tools } = await listTools(dir, c);
      if (tools.length === 0) throw new Error('no tools');
      out.push({ server: c.server, package: c.pkg, version, tools });
      console.error(`${c.server.padEnd(12)} ${c.pkg}@${version}: ${tools.length} tools`);
    } catch (err) {
      console.error(`${c.server.padEnd(12)} ${c.pkg}: left out (${(err as Error).message.split('\n')[0]})`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const file = join(ROOT, 'bench/data/tool-corpus.json');
mkdirSync(join(ROOT, 'bench/data'), { recursive: true });
writeFileSync(file, `${JSON.stringify({ made_at: new Date().toISOString(), servers: out }, null, 1)}\n`);
console.error(`${out.length} servers, ${out.reduce((n, s) => n + s.tools.length, 0)} tools → ${file}`);
