"""PyTorch on the CPU as a benchmark peer: the same SmallCNN training steps as yopo's bench, timed here.

What a user without a GPU would pick instead of yopo is PyTorch on the same CPU, so `yopo bench` runs
this script (when python3 can import torch) right after timing its own steps, and sets the two side
by side. It mirrors ../shared/YOPO-SPEC.md and yopo's code, step for step:

- SmallCNN: conv1 1->32 3x3 + ReLU (the first layer f0), conv2 32->32, ReLU, maxpool 2, conv3 32->64,
  ReLU, conv4 64->64, ReLU, maxpool 2, fc1 1024->200, ReLU, dropout 0.5, fc2 200->200, ReLU, fc3 200->10.
- natural: forward, cross-entropy, backward, SGD (momentum 0.9, weight decay 5e-4).
- pgd-R: attack in eval mode (random start U(-eps, eps), R sign steps of alpha, projection), then one
  SGD step in train mode on CE(adv) + CE(clean).
- yopo-M-N: M full passes keeping p = dL/dz1; after each, N first-layer-only sign steps against the
  frozen p; the first layer also gets the Hamiltonian gradient; two optimisers with lr / M.
- first_layer: one YOPO inner step alone: grad over eta of sum(p * f0(clip(x + eta, 0, 1))).

Inputs are random (x uniform in [0, 1], random labels), like yopo's bench: the cost does not depend on
the values. Prints one JSON object: {"description": ..., "results": {item: {"ms": median, "samples": n}}}.

With --profile, one more call of each item runs under torch.profiler, and "profile" maps each item to
its operators' self CPU time (slowest first): the PyTorch side of `yopo bench`'s step report.

Usage: python3 bench/peer/torch_small_cnn.py --batch 128 --items natural,pgd-10,yopo-5-10,first_layer [--profile]
"""

import argparse
import json
import os
import re
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

EPS, STEP = 0.3, 0.01  # MNIST threat model: eps 0.3, PGD alpha / YOPO sigma 0.01


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.conv3 = nn.Conv2d(32, 64, 3)
        self.conv4 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(1024, 200)
        self.fc2 = nn.Linear(200, 200)
        self.fc3 = nn.Linear(200, 10)
        self.drop = nn.Dropout(0.5)

    def first_layer(self, x):
        return F.relu(self.conv1(x))

    def rest(self, z):
        z = F.max_pool2d(F.relu(self.conv2(z)), 2)
        z = F.max_pool2d(F.relu(self.conv4(F.relu(self.conv3(z)))), 2)
        z = self.drop(F.relu(self.fc1(z.flatten(1))))
        return self.fc3(F.relu(self.fc2(z)))

    def forward(self, x):
        return self.rest(self.first_layer(x))

    def first_layer_parameters(self):
        return list(self.conv1.parameters())

    def rest_parameters(self):
        first = {id(p) for p in self.first_layer_parameters()}
        return [p for p in self.parameters() if id(p) not in first]


def project(eta, x):
    """Clip eta to [-eps, eps], then so that x + eta stays in [0, 1]."""
    return (x + eta.clamp(-EPS, EPS)).clamp(0, 1) - x


def sgd(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)


def natural_step(model, opt, x, y):
    model.train()
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()


def pgd_step(model, opt, x, y, r):
    model.eval()
    eta = torch.empty_like(x).uniform_(-EPS, EPS)
    for _ in range(r):
        eta.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(model(x + eta), y), eta)
        a = (x + eta.detach() + STEP * g.sign()).clamp(0, 1)
        eta = (a - x).clamp(-EPS, EPS)
    adv = (x + eta).clamp(0, 1)
    model.train()
    opt.zero_grad()
    (F.cross_entropy(model(adv), y) + F.cross_entropy(model(x), y)).backward()
    opt.step()


def first_layer_gradient(model, x, eta, p):
    """grad over eta of sum(p * f0(clip(x + eta, 0, 1))): YOPO's inner step, first layer only."""
    eta = eta.detach().requires_grad_(True)
    h = (p * model.first_layer((x + eta).clamp(0, 1))).sum()
    return torch.autograd.grad(h, eta)[0]


def yopo_step(model, first_opt, rest_opt, x, y, m, n):
    model.train()
    first_opt.zero_grad()
    rest_opt.zero_grad()
    eta = torch.empty_like(x).uniform_(-EPS, EPS)
    for _ in range(m):
        z1 = model.first_layer(x + eta)
        z1.retain_grad()
        F.cross_entropy(model.rest(z1), y).backward()  # sums into every parameter, first layer included
        p = z1.grad.detach()
        for _ in range(n):
            eta = project(eta + STEP * first_layer_gradient(model, x, eta, p).sign(), x)
        # The first layer's Hamiltonian gradient, summed on top (the published code's 'both').
        (p * model.first_layer((x + eta).clamp(0, 1))).sum().backward()
    first_opt.step()
    rest_opt.step()


def time_median(call, target_ms, min_samples, warmup):
    for _ in range(warmup):
        call()
    samples = []
    wanted = min_samples
    while len(samples) < wanted:
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
        if len(samples) == 1:
            wanted = max(min_samples, min(100, int(target_ms / max(samples[0], 1e-3)) + 1))
    return {"ms": statistics.median(samples), "samples": len(samples)}


def profile_ops(call):
    """One call under torch.profiler: each operator's self CPU time (ms) and calls, slowest first."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    ops = [
        {"name": e.key, "calls": e.count, "ms": e.self_cpu_time_total / 1000}
        for e in prof.key_averages()
        if e.self_cpu_time_total > 0
    ]
    return sorted(ops, key=lambda op: -op["ms"])


def make_call(item, model, x, y):
    if item == "natural":
        opt = sgd(model.parameters(), 0.1)
        return lambda: natural_step(model, opt, x, y)
    if item == "first_layer":
        model.train()
        eta = torch.empty_like(x).uniform_(-EPS, EPS)
        with torch.no_grad():
            p = torch.randn_like(model.first_layer(x))
        return lambda: first_layer_gradient(model, x, eta, p)
    match = re.fullmatch(r"pgd-(\d+)", item)
    if match:
        opt = sgd(model.parameters(), 0.1)
        return lambda: pgd_step(model, opt, x, y, int(match.group(1)))
    match = re.fullmatch(r"yopo-(\d+)-(\d+)", item)
    if match:
        m, n = int(match.group(1)), int(match.group(2))
        first_opt = sgd(model.first_layer_parameters(), 0.01 / m)
        rest_opt = sgd(model.rest_parameters(), 0.01 / m)
        return lambda: yopo_step(model, first_opt, rest_opt, x, y, m, n)
    raise SystemExit(f"unknown item '{item}': expected natural, first_layer, pgd-R or yopo-M-N")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--items", default="natural,pgd-10,yopo-5-3,yopo-5-10,first_layer")
    parser.add_argument("--target-ms", type=float, default=3000)
    parser.add_argument("--min-samples", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--profile", action="store_true", help="also profile one call of each item")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))
    results = {}
    profiles = {}
    for item in args.items.split(","):
        call = make_call(item, model, x, y)
        results[item] = time_median(call, args.target_ms, args.min_samples, args.warmup)
        if args.profile:
            profiles[item] = profile_ops(call)
    blas = "OpenBLAS" if "openblas" in torch.__config__.show().lower() else "BLAS unknown"
    description = f"PyTorch {torch.__version__} CPU ({blas}, {torch.get_num_threads()} threads)"
    out = {"description": description, "results": results}
    if args.profile:
        out["profile"] = profiles
    print(json.dumps(out))


if __name__ == "__main__":
    main()
