#!/bin/sh
# The run behind report.md: 2026-12-08 00:51-02:59 UTC, commit d7868a5, on the reference machine
# (2 cores, lavapipe) with nothing else running, default kernel tiles (no `yopo tune` cache).
# The run folders' weights (model, best, checkpoints, training state) are not committed; rerunning this
# command in a clean checkout of d7868a5 remakes them.
npm run build
node dist/cli/main.js reproduce mnist-time --setting figure --minutes 30 --out experiments/mnist-time-figure
