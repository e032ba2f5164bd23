"""Schedules driven by the trainer's global step: KL annealing, word-dropout rates, learning-rate warm-up.

A schedule is config data (a frozen dataclass, so it is part of a model's cache key); calling it with a
step gives the value. The trainer tells a model the step before every batch through
``model.set_step(step)`` (when the model has that method) and stores the step in its checkpoints, so a
resumed run sees the same values at the same steps as an uninterrupted one.

    Schedule("constant", end=0.5)                       0.5 at every step
    Schedule("linear", start=0, end=1, steps=10_000)    0 -> 1 over the first 10,000 steps, then 1
    Schedule("logistic", start=0, end=1, steps=2_500, steepness=0.0025)
        start + (end - start) / (1 + exp(-steepness (step - steps))): the sigmoid KL annealing of
        Bowman et al. (2016, sec. 3.1), centred at step ``steps``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

KINDS = ("constant", "linear", "logistic")


@dataclass(frozen=True)
class Schedule:
    kind: Literal["constant", "linear", "logistic"] = "constant"
    start: float = 0.0
    end: float = 1.0
    steps: int = 0               # linear: length of the ramp; logistic: the midpoint
    steepness: float = 0.0025    # logistic only

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown schedule kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")

    def __call__(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if self.kind == "constant":
            return float(self.end)
        if self.kind == "linear":
            frac = 1.0 if self.steps == 0 else min(step / self.steps, 1.0)
            return float(self.start + (self.end - self.start) * frac)
        z = -self.steepness * (step - self.steps)
        # numerically safe logistic: exp overflows for very negative steps
        sig = 1.0 / (1.0 + math.exp(z)) if z < 700 else 0.0
        return float(self.start + (self.end - self.start) * sig)


def constant(value: float) -> Schedule:
    return Schedule("constant", start=value, end=value)
