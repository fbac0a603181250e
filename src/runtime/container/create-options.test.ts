import { describe, expect, it } from 'vitest';
import type { Workload } from '../types.js';
import { createOptions, needsBridgeToken, type ImageFacts } from './create-options.js';

const facts = (bridge?: boolean): ImageFacts => ({ user: '', entrypoint: ['node', '/berth/berth.mjs', 'bridge'], cmd: [], ...(bridge === undefined ? {} : { bridge }) });

function workload(serves: 'stdio' | 'http'): Workload {
  return {
    deploymentId: 'dep-1',
    revision: 1,
    labels: { 'berth.deployment': 'dep-1', 'berth.revision': '1' },
    launch: { command: '', args: [], env: { GREETING: 'hi' }, image: { ref: 'localhost/berth/dep-1:r1', serves, port: 8080, path: '/mcp' } } as Workload['launch'],
  };
}

const envOf = (o: Record<string, unknown>): string[] => o.Env as string[];
const inputs = (w: Workload, image: ImageFacts, token: string | null) =>
  createOptions({ workload: w, name: 'n', owner: 'o', network: 'net', hostPort: 40000, limits: { memoryMb: 256, pids: 256, cpus: 1 }, image, workDir: '/tmp/w', bridgeFile: '/x/berth.mjs', token, tmpMb: 16 });

describe('the bridge token of a container', () => {
  it('is required for a stdio image and for an image Berth built with its bridge (label berth.bridge), not for other HTTP images', () => {
    expect(needsBridgeToken('stdio', facts())).toBe(true);
    expect(needsBridgeToken('http', facts(true))).toBe(true);
    expect(needsBridgeToken('http', facts(false))).toBe(false);
    expect(needsBridgeToken('http', facts())).toBe(false);
  });

  it('reaches a built image (serves http) as BERTH_BRIDGE_TOKEN, without mounting the bridge or replacing its entry point', () => {
    const o = inputs(workload('http'), facts(true), 'tok-123');
    expect(envOf(o)).toContain('BERTH_BRIDGE_TOKEN=tok-123');
    expect(envOf(o)).toContain('GREETING=hi');
    expect(o.Entrypoint).toBeUndefined();
    expect((o.HostConfig as { Binds: string[] }).Binds.some((b) => b.includes('berth.mjs'))).toBe(false);
  });

  it('reaches a stdio image with the bridge mounted as its entry point; no token, no variable', () => {
    expect(envOf(inputs(workload('stdio'), facts(), 'tok-9'))).toContain('BERTH_BRIDGE_TOKEN=tok-9');
    expect(envOf(inputs(workload('http'), facts(false), null)).some((e) => e.startsWith('BERTH_BRIDGE_TOKEN='))).toBe(false);
  });
});
