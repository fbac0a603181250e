import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { MemoryLogStore } from '../../../telemetry/memory-logs.js';
import { ProcessRuntime, type ProcessRuntimeOptions } from '../runtime.js';

export interface RuntimeFixture {
  /** A fresh data dir per test. */
  readonly dataDir: string;
  readonly logs: MemoryLogStore;
  /** A runtime on this test's data dir; stopped (and the dir removed) after the test. */
  make(o?: Partial<ProcessRuntimeOptions>): ProcessRuntime;
}

/** Per-test data dir, log store and runtimes for the suite it is called in. */
export function useRuntimes(prefix: string, base: Omit<Partial<ProcessRuntimeOptions>, 'dataDir' | 'logs'>): RuntimeFixture {
  let dataDir = '';
  let logs = new MemoryLogStore();
  const runtimes: ProcessRuntime[] = [];
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), prefix));
    logs = new MemoryLogStore();
  });
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.stopAll(200)));
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    get dataDir() {
      return dataDir;
    },
    get logs() {
      return logs;
    },
    make(o = {}) {
      const rt = new ProcessRuntime({ dataDir, logs, sandbox: 'none', ...base, ...o });
      runtimes.push(rt);
      return rt;
    },
  };
}
