// Attacks on a classifier in the L∞ or L2 threat model: FGSM/FGM, PGD, CW, APGD-CE/DLR/T, Square, and
// their composition (registry.ts).

export * from './apgd.js';
export * from './dlr.js';
export * from './fab.js';
export * from './pgd.js';
export * from './registry.js';
export * from './square.js';
export { paddedIndices } from './rows.js';
