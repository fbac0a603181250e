import { describe, expect, it } from 'vitest';
import { parseYamlLite } from './yaml-lite.js';

describe('parseYamlLite', () => {
  it('reads the shapes smithery.yaml files use', () => {
    const doc = parseYamlLite(`# Smithery configuration
startCommand:
  type: stdio
  configSchema:
    # JSON Schema
    type: object
    required: ["apiKey"]
    properties:
      apiKey:
        type: string
        description: "The API key: from the dashboard"
      level: { type: number, default: 3 }
  commandFunction: |-
    (config) => ({
      command: 'node',   # not a comment in a block scalar
      args: ['dist/index.js']
    })
  exampleConfig:
    - name: 'it''s'
      on: true
    - plain
build:
  dockerfile: Dockerfile
`);
    expect(doc).toEqual({
      startCommand: {
        type: 'stdio',
        configSchema: { type: 'object', required: ['apiKey'], properties: { apiKey: { type: 'string', description: 'The API key: from the dashboard' }, level: { type: 'number', default: 3 } } },
        commandFunction: "(config) => ({\n  command: 'node',   # not a comment in a block scalar\n  args: ['dist/index.js']\n})",
        exampleConfig: [{ name: "it's", on: true }, 'plain'],
      },
      build: { dockerfile: 'Dockerfile' },
    });
  });

  it('refuses what it does not read instead of guessing', () => {
    expect(() => parseYamlLite('a: &x 1\nb: *x\n')).toThrow(/anchors/);
    expect(() => parseYamlLite('a:\n  b: 1\n c: 2\n')).toThrow(/indentation/);
    expect(() => parseYamlLite('__proto__: 1\n')).toThrow(/__proto__/);
  });
});
