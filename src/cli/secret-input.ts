/**
 * Secret values for the CLI come from stdin when it is piped, or from a prompt that echoes nothing
 * when it is a terminal: never from the command line, where `ps`, shell history and CI logs see them.
 */
import { StringDecoder } from 'node:string_decoder';
import type { CliIo, InStream } from './context.js';
import { CliFailure } from './failure.js';

/** Most bytes read from a piped stdin (a secret value is at most 64 KiB). */
const MAX_STDIN_BYTES = 1024 * 1024;

async function readAll(stdin: InStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_STDIN_BYTES) throw new CliFailure(`stdin is larger than ${MAX_STDIN_BYTES} bytes`, { exitCode: 2 });
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from a terminal in raw mode, echoing nothing. Ctrl-C (or Ctrl-D on an empty line) cancels. */
function promptHidden(io: CliIo, stdin: InStream, prompt: string): Promise<string> {
  io.stderr.write(prompt);
  const decoder = new StringDecoder('utf8');
  let value = '';
  return new Promise<string>((resolve, reject) => {
    const finish = (err?: Error): void => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : decoder.write(chunk)) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(new CliFailure('cancelled', { exitCode: 130 }));
        if (ch === '\u0004') return finish();
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode?.(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * One value per name: a prompt each on a terminal; from a pipe, all of stdin for one name (less one
 * final newline, so multi-line values such as PEM keys work), or one line per name, in order.
 */
export async function readSecretValues(io: CliIo, names: readonly string[], promptFor = (name: string): string => `Value for ${name} (not shown): `): Promise<Record<string, string>> {
  const stdin = io.stdin;
  if (!stdin) throw new CliFailure('no stdin to read the secret value from', { exitCode: 2 });
  const values: Record<string, string> = {};
  if (stdin.isTTY) {
    for (const name of names) values[name] = await promptHidden(io, stdin, promptFor(name));
  } else {
    const text = (await readAll(stdin)).replace(/\r?\n$/, '');
    const parts = names.length === 1 ? [text] : text.split(/\r?\n/);
    if (parts.length !== names.length) {
      throw new CliFailure(`expected ${names.length} lines on stdin, one value per --secret (${names.join(', ')}), got ${parts.length}`, { exitCode: 2 });
    }
    names.forEach((name, i) => (values[name] = parts[i]!));
  }
  for (const name of names) {
    if (values[name] === '') throw new CliFailure(`the value of ${name} is empty`, { exitCode: 2 });
  }
  return values;
}

/** One secret, `what` (e.g. "the API token"), read as readSecretValues reads one value, with `prompt` on a terminal. */
export async function readSecret(io: CliIo, what: string, prompt: string): Promise<string> {
  return (await readSecretValues(io, [what], () => prompt))[what]!;
}
