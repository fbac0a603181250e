import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

// The dependency direction of docs/architecture.md (DESIGN.md "Layout"):
//   core ← drivers (store, events, secrets, sources, build, runtime, mcp, telemetry) ← control ← api, gateway ← app.ts/main.ts
// A driver never imports control, api, gateway or another driver; cli talks to Berth only through the API's
// contract (and mcp, for `berth connect`); nothing in src imports test/. Inside mcp: wire ← front ← bridge ← remote ← group.
// Test code (tests, contract suites, testing/ folders) may also use another driver's in-memory fakes and
// test/support, but never a layer above its own.
const DRIVERS = ['store', 'events', 'secrets', 'sources', 'build', 'runtime', 'mcp', 'telemetry', 'packages'];
const TEST_FILES = ['**/*.test.ts', '**/*.contract.ts', '**/testing/**'];
const LEAVES = ['./core', './version.ts'];

const message = (who, rule) => `${who}: ${rule} (docs/architecture.md, "Dependency direction").`;

/** Zones shared by production and test code. */
const layerZones = [
  { target: 'src/core', from: 'src', except: ['./core'], message: message('core', 'imports nothing internal') },
  { target: 'src/config', from: 'src', except: ['./config', ...LEAVES], message: message('config', 'imports only core') },
  ...['src/control', ...DRIVERS.map((d) => `src/${d}`)].map((target) => ({
    target,
    from: ['src/api', 'src/gateway', 'src/cli', 'src/app.ts', 'src/main.ts'],
    message: message(target.slice(4), 'never imports api, gateway, cli or the composition root'),
  })),
  ...DRIVERS.map((d) => ({ target: `src/${d}`, from: 'src/control', message: message(d, 'a driver never imports control') })),
  { target: 'src/api', from: ['src/gateway', 'src/cli', 'src/app.ts', 'src/main.ts'], message: message('api', 'never imports the gateway, cli or the composition root') },
  { target: 'src/gateway', from: ['src/api', 'src/cli', 'src/app.ts', 'src/main.ts'], message: message('gateway', 'never imports the API, cli or the composition root') },
  {
    target: 'src/cli',
    from: 'src',
    // `berth bridge` runs the standalone bridge, a composition root of its own (src/bridge.ts), loaded on demand.
    except: ['./cli', './api/contract.ts', './mcp', './bridge.ts', ...LEAVES],
    message: message('cli', 'talks to Berth through its API client (src/api/contract.ts shapes) and mcp only'),
  },
];

/** Production code only: drivers stay apart, mcp's roles keep their order, src never reaches into test/. */
const productionZones = [
  ...DRIVERS.map((d) => ({
    target: `src/${d}`,
    from: 'src',
    except: [`./${d}`, ...LEAVES],
    message: message(d, 'a driver imports only core (pass other drivers in as interfaces)'),
  })),
  { target: 'src/mcp/wire', from: 'src/mcp', except: ['./wire'], message: message('mcp/wire', 'the wire format imports nothing else of mcp') },
  { target: 'src/mcp/front', from: ['src/mcp/bridge', 'src/mcp/remote'], message: message('mcp/front', 'the client-facing fronts never import the bridge or remote') },
  { target: 'src/mcp/bridge', from: 'src/mcp/remote', message: message('mcp/bridge', 'the stdio bridge never imports remote') },
  { target: ['src/mcp/wire', 'src/mcp/front', 'src/mcp/bridge', 'src/mcp/remote'], from: 'src/mcp/group', message: message('mcp', 'groups sit on top: nothing else of mcp imports mcp/group') },
  { target: 'src', from: 'test', message: message('src', 'never imports test/') },
];

/** Test code: another driver's fakes are fine; test/support is the only part of test/ it may use. */
const testZones = [
  { target: 'src', from: 'test', except: ['./support'], message: message('src tests', 'use fixtures under src/**/testing/ or test/support only') },
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.berth/**', 'web/dist/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
    },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.mjs'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      // Sources import each other as `./x.js`: resolve that to `x.ts`.
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...productionZones] }],
      'import-x/no-cycle': 'error',
    },
  },
  {
    files: TEST_FILES.map((p) => `src/${p}`),
    rules: { 'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...testZones] }] },
  },
  { files: ['test/support/summary-reporter.ts', 'eslint.config.js', 'vitest.config.ts'], rules: { 'no-restricted-syntax': 'off' } },
);
