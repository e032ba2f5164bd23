"""Throughput of thesis_code.train.fit against a bare PyTorch loop doing the same work.

Both train the same MLP VAE (a copy of one initialization) on the same slice of real MNIST, with the same
batch size, Adam settings and dynamic binarization; the runs are interleaved over several repetitions so
that a change in machine load hits both alike. Reported: images/second (median over repetitions) and the
ratio trainer / bare loop (the goal is >= 0.95).

    OMP_NUM_THREADS=2 THESIS_THREADS=2 python benchmarks/trainer_throughput.py --threads 2
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from thesis_code.data import load
from thesis_code.models import VAE, VAEConfig
from thesis_code.train import TrainConfig, fit


def bare_loop(model, x, epochs, batch_size, lr, seed):
    """The loop one would write by hand: shuffle, binarize, step."""
    model.train()
    g_shuffle = torch.Generator().manual_seed(seed)
    g_binarize = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g_shuffle)
        for i in range(0, len(x), batch_size):
            xb = torch.bernoulli(x[order[i:i + batch_size]], generator=g_binarize)
            opt.zero_grad(set_to_none=True)
            loss, _ = model.loss(xb)
            loss.backward()
            opt.step()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000, help="MNIST training images used")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=1, help="epochs per timed run")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action="store_true", help="time the trainer with its tqdm bars on")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    x, _ = load("mnist", "train", limit=args.n)
    torch.manual_seed(0)
    initial = VAE(VAEConfig(latent_dim=20, hidden=(512, 256)))
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, seed=0, device="cpu",
                         binarize=True, progress=args.progress)
    images = args.n * args.epochs

    def time_trainer():
        model = copy.deepcopy(initial)
        t0 = time.perf_counter()
        fit(model, x, config=config)
        return images / (time.perf_counter() - t0)

    def time_bare():
        model = copy.deepcopy(initial)
        t0 = time.perf_counter()
        bare_loop(model, x, args.epochs, args.batch_size, 1e-3, 0)
        return images / (time.perf_counter() - t0)

    time_bare()  # warm-up (allocator, kernels), not timed
    rates = {"trainer": [], "bare": []}
    for rep in range(args.reps):
        # alternate the order so neither side always runs first
        order = (("trainer", time_trainer), ("bare", time_bare))
        for name, fn in (order if rep % 2 == 0 else order[::-1]):
            rates[name].append(fn())
        print(f"rep {rep + 1}: trainer {rates['trainer'][-1]:8.0f} img/s   bare {rates['bare'][-1]:8.0f} img/s")
    t, b = statistics.median(rates["trainer"]), statistics.median(rates["bare"])
    ratios = [rt / rb for rt, rb in zip(rates["trainer"], rates["bare"])]
    print(f"\nMNIST n={args.n}, batch {args.batch_size}, {args.epochs} epoch(s)/run, {args.reps} reps, "
          f"{args.threads} thread(s), progress bars {'on' if args.progress else 'off'}")
    print(f"median images/s: trainer {t:.0f}, bare loop {b:.0f}")
    print(f"ratio trainer/bare (of medians): {t / b:.3f}; per-rep ratios "
          f"{', '.join(f'{r:.3f}' for r in ratios)}; median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
