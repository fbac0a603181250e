/** Deploy progress on stderr: a spinner line on a TTY, otherwise one line per status change. */
import type { OutStream } from './context.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Progress {
  update(text: string): void;
  /** Clears the spinner line (if any); later output starts on a clean line. */
  stop(): void;
}

export function createProgress(stream: OutStream, enabled = true): Progress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  return stream.isTTY ? spinner(stream) : lines(stream);
}

function lines(stream: OutStream): Progress {
  let last: string | undefined;
  return {
    update(text) {
      if (text === last) return;
      last = text;
      stream.write(`${text}\n`);
    },
    stop: () => undefined,
  };
}

function spinner(stream: OutStream): Progress {
  let text = '';
  let frame = 0;
  const started = Date.now();
  const draw = (): void => {
    const elapsed = Math.floor((Date.now() - started) / 1000);
    stream.write(`\r\x1b[2K${FRAMES[frame % FRAMES.length]} ${text} (${elapsed}s)`);
    frame++;
  };
  const timer = setInterval(draw, 80);
  timer.unref();
  return {
    update(next) {
      text = next;
      draw();
    },
    stop() {
      clearInterval(timer);
      stream.write('\r\x1b[2K');
    },
  };
}
