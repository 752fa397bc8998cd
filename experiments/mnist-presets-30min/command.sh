#!/bin/bash
# #14: the published MNIST pair under one equal wall-time budget, both at once on the reference machine
cd .
export XDG_RUNTIME_DIR=/tmp/xdg
echo "start $(date -u +%T) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)"
common="--time-budget 30 --eval-limit 200 --test-limit 500"
timeout -s KILL 7200 node dist/cli/main.js train --preset mnist-yopo-5-10 $common --eval-every 15 --out runs/repro-yopo > runs/repro-yopo.log 2>&1 &
timeout -s KILL 7200 node dist/cli/main.js train --preset mnist-pgd-40 $common --eval-every 4 --out runs/repro-pgd > runs/repro-pgd.log 2>&1 &
wait
echo "end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
