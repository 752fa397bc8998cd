// Adversarial training: the methods (YOPO-m-n, PGD-r, Free-m, TRADES, TRADES-YOPO-m-n, natural),
// attacks, evaluation and the shared training loop.

export * from './attacks/index.js';
export * from './counters.js';
export * from './data/index.js';
export * from './defaults.js';
export * from './evaluate.js';
export * from './first_layer.js';
export * from './first_layer_adversary.js';
export * from './losses.js';
export type { Hyper, Method, StepOutput } from './method.js';
export { free } from './methods/free.js';
export { natural } from './methods/natural.js';
export { type PgdTrainingOptions, pgd } from './methods/pgd.js';
export { type TradesOptions, trades, tradesStart, tradesUpdate } from './methods/trades.js';
export { type TradesYopoOptions, tradesYopo } from './methods/trades_yopo.js';
export { type FirstLayerGradient, type YopoOptions, yopo } from './methods/yopo.js';
export * from './perturbation.js';
export * from './interval.js';
export * from './sanity.js';
export * from './train.js';
