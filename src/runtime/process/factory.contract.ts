import { MemoryLogStore } from '../../telemetry/memory-logs.js';
import { ProcessRuntime } from './runtime.js';

/** Used by the Runtime contract's crash test, which builds the runtime in a separate Node process. */
export function createRuntime(dataDir: string, variant: string): ProcessRuntime {
  if (variant !== 'none' && variant !== 'bubblewrap') throw new Error(`unknown variant ${variant}`);
  return new ProcessRuntime({ dataDir, logs: new MemoryLogStore(), sandbox: variant, stopGraceMs: 1000 });
}
