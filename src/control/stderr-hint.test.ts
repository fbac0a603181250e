import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../telemetry/logs.js';
import { startingLine, stderrHint } from './stderr-hint.js';

const log = (...lines: [LogEntry['stream'], string][]): LogEntry[] => lines.map(([stream, line], i) => ({ seq: i + 1, ts: 'T', stream, line }));

describe('stderrHint', () => {
  it("picks Node's error line out of its stack trace", () => {
    const entries = log(
      ['system', startingLine('node /x/server.mjs')],
      ['stderr', 'node:internal/modules/cjs/loader:1210'],
      ['stderr', '  throw err;'],
      ['stderr', "Error: Cannot find module '/x/server.mjs'"],
      ['stderr', '    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)'],
      ['stderr', '  code: \'MODULE_NOT_FOUND\','],
      ['stderr', ''],
      ['stderr', 'Node.js v20.20.2'],
      ['system', '[main] exited with code 1 (pid 7)'],
    );
    expect(stderrHint(entries)).toBe("Error: Cannot find module '/x/server.mjs'");
  });

  it("picks Python's last traceback line, and a plain last line when nothing names an error", () => {
    expect(stderrHint(log(['stderr', 'Traceback (most recent call last):'], ['stderr', '  File "s.py", line 1'], ['stderr', "ModuleNotFoundError: No module named 'mcp'"]))).toBe(
      "ModuleNotFoundError: No module named 'mcp'",
    );
    expect(stderrHint(log(['stderr', 'usage: server --port N'], ['stderr', 'missing --token']))).toBe('missing --token');
  });

  it('looks only at the latest start attempt, and says nothing without stderr', () => {
    const entries = log(['system', startingLine('a')], ['stderr', 'Error: old failure'], ['system', startingLine('a')], ['stdout', 'noise']);
    expect(stderrHint(entries)).toBeNull();
    expect(stderrHint([])).toBeNull();
  });

  it('shortens a very long line', () => {
    const hint = stderrHint(log(['stderr', `Error: ${'x'.repeat(500)}`]))!;
    expect(hint).toHaveLength(200);
    expect(hint.endsWith('…')).toBe(true);
  });
});
