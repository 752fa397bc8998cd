// Every test file (test/PATH.test.ts, named by PATH: test/ mirrors the source folders) by what it needs. `npm run test:fast` runs the first group;
// `npm test` runs them all. test/test_groups.test.ts fails when a test file is in no group (or in two),
// so a new file is never silently left out of either.
export const TEST_GROUPS = {
  /** Pure logic and the CPU backend, a few seconds a file: `npm run test:fast` (under 2 minutes). */
  fast: [
    'web/browser_entry', 'cli/cli_docs', 'kernels/conv_plan', 'yopo/data', 'kernels/dawn_notices', 'yopo/fuzz_parsers', 'kernels/golden_wgsl', 'import_graph', 'kernels/matmul_plan',
    'yopo/methods_faithful', 'nn/model_contract', 'nn/nn', 'yopo/presets', 'yopo/report', 'nn/safetensors', 'yopo/sanity', 'web/serve', 'test_groups', 'kernels/tune',
  ],
  /** The CPU backend or no device, but whole training runs, attacks, CLI processes or `npm pack`: tens of seconds to minutes a file. */
  cpuRuns: ['yopo/attacks', 'nn/pretrained', 'bench/bench', 'cli/cli_eval', 'cli/cli_train_config', 'examples', 'package', 'yopo/reproduce', 'cli/run_state'],
  /** The WebGPU adapter (lavapipe here): minutes a file on a cold shader cache. */
  webgpu: [
    'yopo/attack_fab', 'kernels/big_tensors', 'cli/cli', 'kernels/compile_ahead', 'kernels/conv_ascent', 'kernels/conv_configs', 'kernels/device_wait', 'engine/engine_autodiff', 'engine/engine_memory',
    'engine/engine_ops', 'kernels/kernel_checks', 'kernels/kernels_conv', 'kernels/kernels_matmul', 'kernels/kernels_pool_bn', 'nn/models_gpu', 'yopo/nan_policy', 'kernels/programs',
    'yopo/train_mnist', 'yopo/train_yopo_mnist', 'yopo/yopo',
  ],
  /** Chromium (Debian's, driven by playwright-core) with WebGPU in the page. */
  browser: ['web/browser', 'web/browser_pretrained'],
};
