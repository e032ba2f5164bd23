"""Benchmark: what K = 1000 importance sampling on the full MNIST test set would cost chapter 4.1 at `book`.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/eval_cost_41.py

Times ``evaluate.test_log_likelihood`` (K = 1000) for untrained models of 4.1's `book` configurations (the
cost does not depend on the weights): the MLP VAE on 1,000 images and the convolutional VAE on 100, both
scaled to 10,000 images. Then projects the evaluation time of all of 4.1's likelihood models at `book`
(the beta-VAE, IWAE and VampPrior VAE share the MLP's decoder, so they are counted at the MLP's cost) and
compares it with the 500-image subset that `book` scores. This is the arithmetic behind issue #11's
budget conflict.
"""
from __future__ import annotations

import time

import torch

from thesis_code import evaluate
from thesis_code.chapters import experiment as E
from thesis_code.data import load
from thesis_code.models.vae import VAE
from thesis_code.profiles import Run


def seconds_per_10k(model, x: torch.Tensor, k: int) -> float:
    t = time.perf_counter()
    evaluate.test_log_likelihood(model.eval(), x, k=k, generator=torch.Generator().manual_seed(0))
    return (time.perf_counter() - t) * 10_000 / len(x)


def main() -> None:
    s = E.setup(Run("book", torch.device("cpu")))
    x, _ = load("mnist", "test")
    xb = evaluate.fixed_binarization(x[:1000], seed=0)
    mlp = seconds_per_10k(VAE(E.model_config("vae", s)), xb, s.k_eval)
    conv = seconds_per_10k(VAE(E.model_config("conv_vae", s)), xb[:100], s.k_eval)
    models = [m for m in s.models if m in E.LIKELIHOOD_MODELS]
    runs = len(s.seeds) * len(s.datasets)
    total = runs * sum(conv if m == "conv_vae" else mlp for m in models)
    print(f"K = {s.k_eval}, {torch.get_num_threads()} threads")
    print(f"MLP VAE : {mlp:6.0f} s per 10,000 test images")
    print(f"conv VAE: {conv:6.0f} s per 10,000 test images")
    print(f"4.1 at book: {len(models)} likelihood models x {runs} (seeds x data sets)")
    print(f"  full test set : {total:6.0f} s = {total / 60:.0f} min")
    print(f"  {s.n_test:,} images   : {total * s.n_test / 10_000:6.0f} s = {total * s.n_test / 10_000 / 60:.1f} min")


if __name__ == "__main__":
    main()
