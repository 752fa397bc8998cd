// Every test file (test/NAME.test.ts) by what it needs. `npm run test:fast` runs the first group;
// `npm test` runs them all. test/test_groups.test.ts fails when a test file is in no group (or in two),
// so a new file is never silently left out of either.
export const TEST_GROUPS = {
  /** Pure logic and the CPU backend, a few seconds a file: `npm run test:fast` (under 2 minutes). */
  fast: [
    'browser_entry', 'cli_docs', 'conv_plan', 'data', 'dawn_notices', 'fuzz_parsers', 'golden_wgsl', 'import_graph', 'matmul_plan',
    'methods_faithful', 'model_contract', 'nn', 'presets', 'report', 'safetensors', 'sanity', 'serve', 'test_groups', 'tune',
  ],
  /** The CPU backend or no device, but whole training runs, attacks, CLI processes or `npm pack`: tens of seconds to minutes a file. */
  cpuRuns: ['attacks', 'bench', 'cli_eval', 'cli_train_config', 'examples', 'package', 'reproduce', 'run_state'],
  /** The WebGPU adapter (lavapipe here): minutes a file on a cold shader cache. */
  webgpu: [
    'attack_fab', 'big_tensors', 'cli', 'compile_ahead', 'conv_ascent', 'conv_configs', 'device_wait', 'engine_autodiff', 'engine_memory',
    'engine_ops', 'kernel_checks', 'kernels_conv', 'kernels_matmul', 'kernels_pool_bn', 'models_gpu', 'nan_policy', 'programs',
    'train_mnist', 'train_yopo_mnist', 'yopo',
  ],
  /** Chromium (Debian's, driven by playwright-core) with WebGPU in the page. */
  browser: ['browser'],
};
