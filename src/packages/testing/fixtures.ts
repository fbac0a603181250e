/**
 * Tiny MCP servers with no dependencies, published as real packages for the package-cache tests: an
 * npm tarball made by `npm pack`, and a wheel (a zip with the standard metadata, made by Python's
 * zipfile, so nothing has to be downloaded to build it). Each answers initialize, ping, tools/list
 * and two tools: `whoami` (its argv, pid and parent pid) and `write` (tries to write a file, answers
 * the errno code on failure).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const JS_SERVER = (version: string) => `#!/usr/bin/env node
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const tools = [
  { name: 'whoami', description: 'argv, pid and parent pid', inputSchema: { type: 'object' } },
  { name: 'write', description: 'writes a file', inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] } },
];
createInterface({ input: process.stdin }).on('line', (line) => {
  let msg;
  try { msg = JSON.parse(line); } catch { return; }
  if (msg.id === undefined) return;
  const reply = (result) => out({ jsonrpc: '2.0', id: msg.id, result });
  const text = (t, isError = false) => reply({ content: [{ type: 'text', text: t }], isError });
  if (msg.method === 'initialize') return reply({ protocolVersion: msg.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'tiny', version: '${version}' } });
  if (msg.method === 'ping') return reply({});
  if (msg.method === 'tools/list') return reply({ tools });
  if (msg.method === 'tools/call') {
    const args = msg.params?.arguments ?? {};
    if (msg.params?.name === 'whoami') return text(JSON.stringify({ argv: process.argv, pid: process.pid, ppid: process.ppid, version: '${version}' }));
    if (msg.params?.name === 'write') {
      try { writeFileSync(args.path, 'planted'); return text('written'); } catch (e) { return text(String(e.code), true); }
    }
  }
  out({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'not supported: ' + msg.method } });
});
`;

const PY_SERVER = (version: string) => `import json, os, sys

TOOLS = [
    {"name": "whoami", "description": "argv, pid and parent pid", "inputSchema": {"type": "object"}},
    {"name": "write", "description": "writes a file", "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
]


def main():
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "id" not in msg:
            continue
        method, params = msg.get("method"), msg.get("params") or {}
        result = None
        if method == "initialize":
            result = {"protocolVersion": params.get("protocolVersion", "2025-06-18"), "capabilities": {"tools": {}}, "serverInfo": {"name": "tiny-py", "version": "${version}"}}
        elif method == "ping":
            result = {}
        elif method == "tools/list":
            result = {"tools": TOOLS}
        elif method == "tools/call" and params.get("name") == "whoami":
            result = {"content": [{"type": "text", "text": json.dumps({"argv": sys.argv, "pid": os.getpid(), "ppid": os.getppid(), "version": "${version}", "executable": sys.executable})}]}
        elif method == "tools/call" and params.get("name") == "write":
            try:
                with open(params.get("arguments", {}).get("path"), "w") as f:
                    f.write("planted")
                result = {"content": [{"type": "text", "text": "written"}]}
            except OSError as e:
                import errno
                result = {"content": [{"type": "text", "text": errno.errorcode.get(e.errno, str(e))}], "isError": True}
        if result is None:
            out = {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "not supported"}}
        else:
            out = {"jsonrpc": "2.0", "id": msg["id"], "result": result}
        sys.stdout.write(json.dumps(out) + "\\n")
        sys.stdout.flush()
`;

/** Packs the tiny npm server as NAME@VERSION into `outDir` (npm pack); returns the tarball's path. */
export function packNpmFixture(outDir: string, name: string, version: string, bins: string[] = [name.slice(name.indexOf('/') + 1)]): string {
  const src = mkdtempSync(path.join(tmpdir(), 'berth-npm-fixture-'));
  try {
    writeFileSync(path.join(src, 'server.mjs'), JS_SERVER(version), { mode: 0o755 });
    const bin = Object.fromEntries(bins.map((b) => [b, 'server.mjs']));
    writeFileSync(path.join(src, 'package.json'), JSON.stringify({ name, version, type: 'module', bin, files: ['server.mjs'] }, null, 2));
    mkdirSync(outDir, { recursive: true });
    const file = execFileSync('npm', ['pack', '--silent', '--pack-destination', outDir], { cwd: src, encoding: 'utf8' }).trim().split('\n').pop()!;
    return path.join(outDir, file);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}

/** Builds the tiny Python server as a wheel of NAME==VERSION in `outDir`, with console script NAME; returns its path. */
export function buildWheel(outDir: string, name: string, version: string, python = 'python3'): string {
  mkdirSync(outDir, { recursive: true });
  const mod = name.replace(/[-.]/g, '_');
  const script = `
import base64, hashlib, sys, zipfile
out, name, mod, version, source = sys.argv[1:6]
info = f"{mod}-{version}.dist-info"
files = {
    f"{mod}/__init__.py": source,
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: berth-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    f"{info}/entry_points.txt": f"[console_scripts]\\n{name} = {mod}:main\\n",
}
path = f"{out}/{mod}-{version}-py3-none-any.whl"
record = []
with zipfile.ZipFile(path, "w") as z:
    for p, text in files.items():
        data = text.encode()
        z.writestr(p, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
print(path)
`;
  return execFileSync(python, ['-c', script, outDir, name, mod, version, PY_SERVER(version)], { encoding: 'utf8' }).trim();
}
