#!/bin/bash
# What ran on the lent NVIDIA H200 (one call, 15 minutes of device time), as report.md and the logs
# record it; the call's own script was not kept, so the redirections here are reconstructed. From the
# repository root after `npm run build`, with Node, node_modules and the glvnd libraries carried along.
set -e
nvidia-smi > doctor.txt; node dist/cli/main.js doctor >> doctor.txt
# The call's limit cut this run after 120 s, during the PreAct-ResNet18 steps (bench.log is its progress log).
node dist/cli/main.js bench --json --filter first_layer,full,step/smallcnn,step/preact,matmul,conv/ 2> bench.log
# The demo's model of 2026-11-30 (trained on the reference machine), 1,000 MNIST test images:
time node dist/cli/main.js eval --checkpoint model.safetensors --attack autoattack --limit 1000 --batch-size 1000 > eval.log 2>&1
time node dist/cli/main.js eval --checkpoint model.safetensors --attack apgd-ce+apgd-t --limit 1000 --batch-size 1000 --no-sanity
