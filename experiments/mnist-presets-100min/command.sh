#!/bin/bash
# #14: the published MNIST pair under one equal wall-time budget (100 minutes of training each), both at once
# on the reference machine, so both see the same load; run from the repository root after `npm run build`.
export XDG_RUNTIME_DIR=/tmp/xdg
echo "start $(date -u +%T) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)"
common="--time-budget 100 --eval-limit 200 --test-limit 500 --keep-checkpoints"
timeout -s KILL 12000 node dist/cli/main.js train --preset mnist-yopo-5-10 $common --eval-every 25 --out runs/long-yopo > runs/long-yopo.log 2>&1 &
timeout -s KILL 12000 node dist/cli/main.js train --preset mnist-pgd-40 $common --eval-every 6 --out runs/long-pgd > runs/long-pgd.log 2>&1 &
wait
echo "end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
# Afterwards, both at once (14:51-15:03 UTC), the stronger test-set evaluation of each best checkpoint:
#   node dist/cli/main.js eval --checkpoint runs/long-yopo/best.safetensors --model smallcnn --attack apgd-ce+apgd-t --limit 200 --no-sanity
#   node dist/cli/main.js eval --checkpoint runs/long-pgd/best.safetensors --model smallcnn --attack apgd-ce+apgd-t --limit 200 --no-sanity
# (their model cards: yopo-apgd.json, pgd-apgd.json)
