// yopo reproduce: the paper's claims as experiments (experiments.ts), run one method after another
// (run.ts), read back (results.ts) and reported (report.ts).
export * from './experiments.js';
export * from './run.js';
export * from './results.js';
export * from './report.js';
