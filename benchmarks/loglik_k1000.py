"""Benchmark: the K=1000 importance-sampled log-likelihood of an MLP VAE on the MNIST test set.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/loglik_k1000.py               # all 10,000 test images
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/loglik_k1000.py --n 500       # a quick subset

The VAE (``VAEConfig()``: MLP 784-512-256-20, Bernoulli decoder) is trained on dynamically binarized
MNIST through ``experiments.train_cached`` (so the second run loads it); the test set is binarized once
with a fixed seed (``evaluate.fixed_binarization``). Prints the wall-clock time of the estimate, the
images per second, log p(x) (mean +- standard error, nats), bits/dim and, for comparison, the ELBO.
"""
from __future__ import annotations

import argparse
import json
import math
import time

import torch

from thesis_code import evaluate as ev
from thesis_code.data import load
from thesis_code.experiments import train_cached
from thesis_code.models import VAE, VAEConfig
from thesis_code.profiles import Run, resolve_device
from thesis_code.train import TrainConfig


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--k", type=int, default=1000, help="importance samples per image")
    p.add_argument("--n", type=int, default=10_000, help="test images (the first n)")
    p.add_argument("--batch-size", type=int, default=100, help="test images per batch")
    p.add_argument("--chunk", type=int, default=100, help="importance samples per forward pass")
    p.add_argument("--epochs", type=int, default=3, help="training epochs of the VAE (cached)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--profile", default="book", help="cache folder of the trained VAE")
    p.add_argument("--json", default=None, help="also write the numbers to this file")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    run = Run(profile=args.profile, device=device, seed=0)
    x_train, _ = load("mnist", "train")
    config = VAEConfig()
    t0 = time.perf_counter()
    model, history = train_cached("bench-vae-mnist", lambda: VAE(config),
                                  TrainConfig(epochs=args.epochs, batch_size=128, binarize=True, progress=False),
                                  x_train, run=run, model_config=config)
    train_s = time.perf_counter() - t0
    print(f"VAE ready in {train_s:.1f} s (trained or loaded; last training loss {history['loss'][-1]:.2f})")

    x_test, _ = load("mnist", "test", limit=args.n)
    x_test = ev.fixed_binarization(x_test, seed=0).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    result = ev.test_log_likelihood(model, x_test, k=args.k, batch_size=args.batch_size, chunk=args.chunk)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        torch.manual_seed(0)
        elbo = torch.cat([model.elbo(xb) for xb in x_test.split(1000)]).double()

    out = {"k": args.k, "n": result.n, "threads": args.threads, "device": str(device), "seconds": seconds,
           "images_per_s": result.n / seconds, "log_px": result.log_px, "stderr": result.stderr,
           "bits_per_dim": result.bits_per_dim, "elbo": float(elbo.mean()),
           "elbo_stderr": float(elbo.std() / math.sqrt(elbo.numel())), "epochs": args.epochs}
    print(f"K={args.k} log-likelihood of {result.n} MNIST test images on {device} ({args.threads} threads): "
          f"{seconds:.1f} s, {out['images_per_s']:.1f} images/s")
    print(f"  {result}")
    print(f"  ELBO = {out['elbo']:.2f} ± {out['elbo_stderr']:.2f} nats (the estimate must lie above it)")
    if args.json:
        from thesis_code.storage import atomic_json_dump
        atomic_json_dump(out, args.json)
    return out


if __name__ == "__main__":
    main()
