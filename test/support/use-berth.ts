import { afterAll, beforeAll } from 'vitest';
import { TestApi } from './api.js';
import { startBerth, type BerthProcess, type StartOptions } from './berth-process.js';

/** One Berth process for a test file: started before its tests, stopped (data dir removed) after. */
export function useBerth(opts: StartOptions = {}): { berth: BerthProcess; api: TestApi } {
  const ctx = {} as { berth: BerthProcess; api: TestApi };
  beforeAll(async () => {
    ctx.berth = await startBerth(opts);
    ctx.api = new TestApi(ctx.berth.url, ctx.berth.token);
  });
  afterAll(async () => {
    await ctx.berth?.dispose();
  });
  return ctx;
}
