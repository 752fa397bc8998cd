// Counts the pipelines a Gpu compiles, by kernel name: wraps gpu.program (through which every
// pipeline is made) and returns the live map of name → pipelines compiled since.
export function countPipelines(gpu) {
  const compiled = new Map();
  const programOf = gpu.program.bind(gpu);
  gpu.program = (name, key, source) => {
    const before = gpu.counters.pipelines;
    const p = programOf(name, key, source);
    if (gpu.counters.pipelines > before) compiled.set(name, (compiled.get(name) ?? 0) + 1);
    return p;
  };
  return compiled;
}
