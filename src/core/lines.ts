import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/**
 * Calls `onLine` for every line of `stream` (without the line break; a trailing `\r` is dropped).
 * A line that grows beyond `maxChars` before its newline is emitted in pieces of `maxChars`, so a
 * server that never prints a newline cannot make Berth buffer without bound.
 */
export function eachLine(stream: Readable, onLine: (line: string) => void, maxChars = 64 * 1024): void {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const emit = (line: string): void => onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  stream.on('data', (chunk: Buffer) => {
    partial += decoder.write(chunk);
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      emit(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
    while (partial.length > maxChars) {
      emit(partial.slice(0, maxChars));
      partial = partial.slice(maxChars);
    }
  });
  stream.on('end', () => {
    partial += decoder.end();
    if (partial.length > 0) emit(partial);
    partial = '';
  });
  stream.on('error', () => {
    /* the process exit path reports failures; a broken stderr pipe is not one */
  });
}
