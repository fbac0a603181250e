/** Reading a secret (an API token, a secret's value) without it ever being an argument: piped stdin, or a hidden prompt. */
import type { CliIo, InStream } from './context.js';
import { CliFailure } from './failure.js';

/** The most a secret read from stdin may be (1 MiB). */
const MAX_SECRET_BYTES = 1024 * 1024;

/**
 * Reads one secret. On a terminal: prompts on stderr and reads a line without echoing it. Piped:
 * reads all of stdin and drops one trailing newline. An empty secret is refused.
 */
export async function readSecret(io: CliIo, prompt: string): Promise<string> {
  const input = io.stdin;
  if (!input) throw new CliFailure('no input to read the secret from', { code: 'NO_INPUT' });
  const value = input.isTTY && input.setRawMode ? await promptHidden(io, input, prompt) : await readAll(input);
  if (value === '') throw new CliFailure('the secret is empty', { code: 'VALIDATION_FAILED', exitCode: 2 });
  return value;
}

async function readAll(input: InStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > MAX_SECRET_BYTES) throw new CliFailure(`the secret on stdin is larger than ${MAX_SECRET_BYTES} bytes`, { code: 'PAYLOAD_TOO_LARGE' });
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function promptHidden(io: CliIo, input: InStream, prompt: string): Promise<string> {
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.off?.('data', onData);
      input.setRawMode?.(false);
      input.pause?.();
      io.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new CliFailure('cancelled', { code: 'CANCELLED', exitCode: 130 }));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (value.length < MAX_SECRET_BYTES) value += ch;
      }
    };
    input.setRawMode?.(true);
    input.on?.('data', onData);
    input.resume?.();
  });
}
