"""The two training loops the benchmark races, and the schedule that keeps the race fair.

`BareLoop` is what a person would write by hand from the tutorial; `EngineLoop` is the same
training through `Trainer.step()`.  Both see the same tensors, the same seeded batch order
and the same thread count, so the gap between them is exactly what the engine costs.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import Dataset, default_data_dir
from ..model import LeNet
from ..training import Recorder, TrainConfig, Trainer, resolve_device


@dataclass(frozen=True)
class Block:
    """One timed block of iterations, on two clocks.

    Wall time is the rate people feel.  Process CPU time moves much less when other programs
    take the cores (a preempted loop is not charged for the wait), so on a shared machine it
    still compares two loops fairly, at least with one torch thread.
    """

    iterations: int
    wall_s: float
    cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.iterations / self.wall_s

    @property
    def cpu_ms_per_iter(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / self.iterations * 1000


#: Runs one timed block of the given number of iterations.
Contender = Callable[[int], Block]


def timed(body: Callable[[int], None], iterations: int) -> Block:
    """Run `body(iterations)` under both clocks."""
    cpu, wall = time.process_time(), time.perf_counter()
    body(iterations)
    return Block(iterations, time.perf_counter() - wall, time.process_time() - cpu)


class BareLoop:
    """Plain PyTorch: the loop of pytorch/examples mnist, with the engine's batch order.

    Reads `loss.item()` every iteration because every real loop does (to log or plot it);
    leaving it out would flatter the bare loop with a sync the engine cannot skip.
    It never evaluates on held-out data; the engine does, every `eval_every` iterations.
    """

    def __init__(self, config: TrainConfig, dataset: Dataset) -> None:
        device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.model = LeNet().to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum)
        self.x = dataset.train_images.to(device)
        self.y = dataset.train_labels.to(device)
        self.device = device
        self.batch_size = config.batch_size
        self._gen = torch.Generator().manual_seed(config.seed)
        self._perm = torch.randperm(len(self.y), generator=self._gen)
        self._cursor = 0
        self.last_loss = float("nan")

    def run(self, iterations: int) -> Block:
        """Train `iterations` batches, timed."""
        return timed(self._train, iterations)

    def _train(self, iterations: int) -> None:
        model, opt, x, y, n = self.model, self.optimizer, self.x, self.y, len(self.y)
        for _ in range(iterations):
            if self._cursor >= n:
                self._perm = torch.randperm(n, generator=self._gen)
                self._cursor = 0
            idx = self._perm[self._cursor : self._cursor + self.batch_size].to(self.device)
            self._cursor += len(idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            self.last_loss = loss.item()


class EngineLoop:
    """The engine headless: `Trainer.step()` in a loop, periodic held-out evaluation included."""

    def __init__(self, config: TrainConfig, dataset: Dataset, record: Path | None = None) -> None:
        self.trainer = Trainer(config, dataset=dataset)
        self.trainer.record_graph = False  # headless: nobody sees the graph (inside_step measures recording)
        self.timed_evaluations = 0  # evaluations that fell inside timed blocks (not warm-up)
        #: With `record`, every step is recorded there, as the app records a run (bench/features.py).
        self.recorder = Recorder(record, self.trainer) if record is not None else None

    def close(self) -> None:
        """End the recording, if any (its writer thread commits and closes the file)."""
        if self.recorder is not None:
            self.recorder.close()

    def run(self, iterations: int) -> Block:
        """Train `iterations` iterations, timed, counting the evaluations that fell inside."""
        first = self.trainer.iteration
        block = timed(self._train, iterations)
        self.timed_evaluations += evaluations_between(first, self.trainer.iteration, self.trainer.config.eval_every)
        return block

    def _train(self, iterations: int) -> None:
        step = self.trainer.step
        for _ in range(iterations):
            step()

    def evaluation_ms(self, repeats: int = 3) -> float:
        """Milliseconds one periodic evaluation costs, so a report can say how much of the gap it is."""
        samples = self.trainer.config.eval_samples
        self.trainer.evaluate(samples)  # warm
        start = time.perf_counter()
        for _ in range(repeats):
            self.trainer.evaluate(samples)
        return (time.perf_counter() - start) / repeats * 1000


def evaluations_between(first: int, last: int, every: int) -> int:
    """How many iteration numbers in (first, last] are multiples of `every` (0 = never)."""
    return 0 if every <= 0 else last // every - first // every


def thread_choices(cap: int = 4) -> list[int]:
    """Thread counts worth trying: 1..cpu_count, capped because LeNet stops scaling long before."""
    return list(range(1, min(os.cpu_count() or 1, cap) + 1))


def sweep_threads(loop: BareLoop, choices: Sequence[int], iterations: int, warmup: int) -> dict[int, float]:
    """Bare-loop rate at each torch thread count (warmed after every change of count)."""
    rates: dict[int, float] = {}
    for threads in choices:
        torch.set_num_threads(threads)
        loop.run(warmup)
        rates[threads] = loop.run(iterations).rate
    return rates


def interleaved_rounds(contenders: dict[str, Contender], iterations: int, rounds: int) -> dict[str, list[Block]]:
    """Timed blocks per contender, running each once per round and rotating who goes first.

    Interleaving spreads machine noise (another process, thermal drift) over every contender
    instead of letting it land on whichever happened to run during the noisy minute.
    """
    names = list(contenders)
    blocks: dict[str, list[Block]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            blocks[name].append(contenders[name](iterations))
    return blocks


def median(values: Sequence[float]) -> float:
    """The per-round median: one noisy round cannot move it."""
    return float(statistics.median(values))


def default_bench_data_dir() -> Path:
    """The MNIST kept beside the repo (../shared/data/mnist) when there is one, else the user cache."""
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
    return shared if shared.is_dir() else default_data_dir()
