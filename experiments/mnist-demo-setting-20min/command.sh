#!/bin/bash
# YOPO-5-10 against PGD-40 on MNIST at the demo's setting (batch 64, lr 0.05 for both), 20 minutes of
# training each, both at once on the reference machine; run from the repository root.
set -e
npm run build
node dist/cli/main.js train --data mnist --model smallcnn --method yopo-5-10 --batch-size 64 --lr 0.05 \
  --time-budget 20 --eval-every 25 --eval-limit 200 --eval-attack pgd-20 --out runs/repro-yopo &
node dist/cli/main.js train --data mnist --model smallcnn --method pgd-40 --batch-size 64 --lr 0.05 \
  --time-budget 20 --eval-every 8 --eval-limit 200 --eval-attack pgd-20 --out runs/repro-pgd &
wait
node dist/cli/main.js compare runs/repro-yopo runs/repro-pgd --out chart.svg
