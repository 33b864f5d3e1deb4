"""What ``PersistentASHA`` costs by itself: the scheduler fed fake results, no trials run.

raytune-hp's ASHA scheduler (:mod:`raytune_hp.early_stopping.persistent_asha`) writes its rungs to
the experiment folder after each result that changes them, so that a resumed run keeps them.
:func:`asha_cost` feeds it the results of simulated trials (:func:`benchmarks.simulated.curve`), a
wave of concurrent trials at a time, and counts and times what it does per result, rungs writes
included; :func:`asha_table` shows the costs for a growing number of trials, where a cost that
grows with the trials shows.

Example (from the repository root, with ``benchmarks`` on the path as the scripts run)::

    from scale import Spec, experiment_config

    spec, folder = Spec("asha", concurrency=32, epoch_seconds=2.0, steady_s=0), Path("/tmp/a")
    config = experiment_config(spec, folder, folder / "stop", trials=100, epochs=8,
                               early_stopping="asha")
    print("\n".join(asha_table([asha_cost(config)])))
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from raytune_hp.config import ExperimentConfig


@dataclass(frozen=True)
class AshaCost:
    """``PersistentASHA`` fed fake results for ``trials`` trials of ``epochs`` epochs each."""

    trials: int
    results: int
    writes: int
    seconds: float  # in on_trial_result / on_trial_complete, rungs writes included
    write_s: float  # one write of all rungs at the end (JSON + file): the largest
    rungs_bytes: int


class CountingStore:
    """An experiment store that counts the files written through it."""

    def __init__(self, store: Any) -> None:
        self.store, self.writes = store, 0

    def write_bytes(self, name: str, data: bytes) -> None:
        self.writes += 1
        self.store.write_bytes(name, data)

    def write_text(self, name: str, text: str) -> None:
        self.writes += 1
        self.store.write_text(name, text)

    @property
    def location(self) -> str:
        return str(self.store.location)

    def exists(self, name: str = "") -> bool:
        return bool(self.store.exists(name))

    def read_bytes(self, name: str) -> bytes:
        return bytes(self.store.read_bytes(name))


def asha_cost(config: ExperimentConfig) -> AshaCost:
    """Feeds ``PersistentASHA`` the results of ``config.search.num_samples`` simulated trials of
    ``config.train.max_epochs`` epochs, ``config.search.max_concurrent`` at a time, and counts
    and times its rungs writes: the scheduler alone, without Ray running anything."""
    from benchmarks.simulated import curve
    from raytune_hp.early_stopping import build_early_stopping
    from raytune_hp.early_stopping.persistent_asha import RUNGS_FILE, rungs_json
    from raytune_hp.experiment import experiment_store

    trials, epochs = config.search.num_samples, config.train.max_epochs
    concurrency = config.search.max_concurrent or trials  # no limit: every trial at once
    store = CountingStore(experiment_store(config))
    scheduler = build_early_stopping(config, store)
    hps = [{"lr": 10 ** (-4 + 2 * (i % 97) / 96), "dropout": (i % 11) / 20} for i in range(trials)]
    seconds, results = 0.0, 0
    for first in range(0, trials, concurrency):
        wave = [
            SimpleNamespace(trial_id=f"{i:06d}", hp=hps[i])
            for i in range(first, min(trials, first + concurrency))
        ]
        for trial in wave:
            scheduler.on_trial_add(None, trial)
        for epoch in range(1, epochs + 1):
            for trial in list(wave):
                acc, _ = curve(trial.hp, epoch, epochs)
                result = {"epoch": epoch, "val_acc": acc}
                began = time.perf_counter()
                action = scheduler.on_trial_result(None, trial, result)
                if action == "STOP":
                    scheduler.on_trial_complete(None, trial, result)
                    wave.remove(trial)
                seconds += time.perf_counter() - began
                results += 1
    writes = store.writes
    began = time.perf_counter()
    text = rungs_json(scheduler.rungs(), 0)
    store.write_text(RUNGS_FILE, text)
    return AshaCost(trials, results, writes, seconds, time.perf_counter() - began, len(text))


def asha_table(costs: list[AshaCost]) -> list[str]:
    """One Markdown row per cost: writes and time per result, the size of the rungs file."""
    lines = [
        "| trials | results | rungs writes | writes per result | µs per result (writes included) "
        "| one write of all rungs, ms | rungs file KiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        lines.append(
            f"| {c.trials} | {c.results} | {c.writes} | {c.writes / c.results:.2f} "
            f"| {c.seconds / c.results * 1e6:.0f} | {c.write_s * 1000:.2f} "
            f"| {c.rungs_bytes / 1024:.1f} |"
        )
    return lines
