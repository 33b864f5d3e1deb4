"""Replays a search on recorded learning curves: raytune-hp's searcher and early stopping, or
Optuna's, driven through their own interfaces in virtual time, hundreds of searches in minutes.

A *benchmark* (:class:`Benchmark`) answers a proposed configuration with a learning curve: the
metric after every epoch and the cumulative training seconds. :class:`RecordedTask` snaps the
proposal to the nearest recorded configuration of a task (:mod:`curve_tasks`; same categorical
values, nearest on every numeric hyperparameter's search scale, each scale normalised by the
recorded span) and hands back that configuration's curve; :mod:`mf_hartmann` computes curves of
the synthetic MFHartmann functions.

A *method* (:class:`Method`) is a name plus config overrides, ``--set``-style keys::

    Method("random, no early stopping",
           {"search.strategy": "random", "early_stopping.name": "none"})

Its searcher and early stopping are built exactly as the product builds them
(:func:`product_search`: ``raytune_hp.search.build_search`` over ``config.search_space()``,
``raytune_hp.early_stopping.build_early_stopping`` with an in-memory store) and driven through
Ray Tune's ``Searcher`` / ``TrialScheduler`` interfaces as Tune's controller drives them:
``suggest``; every epoch's result (``epoch``, the metric, ``training_iteration``) to the
scheduler's ``on_trial_result`` and, unless it stops the trial, to the searcher's; at the end
``on_trial_complete`` of both with the trial's last result. ``k`` trials run at once (2 by
default) in virtual time taken from the recorded seconds, with the same trial budget for every
method (ASHA's savings are reported, not re-spent). A method whose overrides the config does not
accept yet (keys the search side adds later) is skipped by :func:`unavailable` with the reason.

Optuna runs in the same loop (:class:`OptunaMethod`): ``TPESampler`` with its defaults, one of
its pruners, ``trial.report`` and ``should_prune`` every epoch, over the same space.

Every finished trial adds a :class:`Step`: trials finished, epochs trained so far by all trials,
virtual seconds, and the incumbent (the trial the tuner would report: the best score, a trial's
score being its best epoch's metric among the epochs it trained) with its regret (the task's best
recorded score minus the incumbent's, sign flipped for a metric to minimise).

Example (a hand-made benchmark of three curves; the snapping and regret of real tasks work the
same way)::

    >>> bench = ListBenchmark("toy", "val_acc", "max", 3, [
    ...     {"optimizer": "adam", "lr": 0.001}, {"optimizer": "adam", "lr": 0.1},
    ...     {"optimizer": "sgd", "lr": 0.01}], [
    ...     (0.5, 0.7, 0.9), (0.8, 0.8, 0.6), (0.1, 0.2, 0.3)])
    >>> bench.reference
    0.9
    >>> bench.snap({"optimizer": "adam", "lr": 0.002})
    0
    >>> bench.snap({"optimizer": "adam", "lr": 0.05}), bench.snap({"optimizer": "sgd", "lr": 1})
    (1, 2)

    Two at a time, one second an epoch: configuration 1 is stopped after its first epoch (the
    first trial to finish, 2 epochs trained in all, its 0.8 the incumbent), configuration 2 takes
    its slot, and configuration 0 ends at 3 seconds with the best score::

    >>> run = replay(bench, "toy", ScriptedEngine([0, 1, 2], stop_after={1: 1}), trials=3, k=2)
    >>> [(s.trials, s.epochs, s.seconds, s.incumbent, round(s.regret, 2)) for s in run.steps]
    [(1, 2, 1.0, 1, 0.1), (2, 5, 3.0, 0, 0.0), (3, 7, 4.0, 0, 0.0)]
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import numpy as np

from raytune_hp.config import ExperimentConfig
from raytune_hp.errors import RaytuneHPError

K, TRIALS = 2, 30


# ---------------------------------------------------------------------------------------------
# Benchmarks: a configuration in, a learning curve out
# ---------------------------------------------------------------------------------------------


class Benchmark(Protocol):
    """What a search is replayed on."""

    name: str
    metric: str
    mode: str  # max or min
    max_epochs: int

    @property
    def reference(self) -> float:
        """The best score any configuration reaches (its best epoch)."""

    def config(self, overrides: Mapping[str, Any] = ..., seed: int = 0) -> ExperimentConfig:
        """The task's config with ``--set``-style overrides and the seed."""

    def curve(self, hp: Mapping[str, Any]) -> tuple[Any, tuple[float, ...], tuple[float, ...]]:
        """``(id, metric per epoch, cumulative seconds per epoch)`` of a proposal."""


def scale_of(values: Sequence[Any], name: str) -> str:
    """How a numeric hyperparameter is compared: ``log`` for the lr, powers of two, weight decay
    and other positive values spanning more than a factor of 20; ``linear`` otherwise.

    Example:
        >>> scale_of([16, 1024], "batch_size"), scale_of([0.0, 0.8], "dropout")
        ('log', 'linear')
    """
    numbers = [float(v) for v in values]
    if name in ("lr", "weight_decay", "batch_size", "hidden_size"):
        return "log"
    positive = [v for v in numbers if v > 0]
    if positive and min(numbers) >= 0 and max(positive) / min(positive) > 20 and name != "dropout":
        return "log"
    return "linear"


class ListBenchmark:
    """A benchmark of recorded configurations and their curves; proposals snap to the nearest.

    Numeric hyperparameters are compared on their search scale (:func:`scale_of`; a weight decay
    of 0 sits at the smallest positive value recorded), each divided by the span the recorded
    configurations of the same categorical values cover there; the snapped configuration shares
    every categorical value with the proposal.
    """

    def __init__(
        self,
        name: str,
        metric: str,
        mode: str,
        max_epochs: int,
        hps: Sequence[Mapping[str, Any]],
        curves: Sequence[Sequence[float]],
        seconds: Sequence[Sequence[float]] | None = None,
        ids: Sequence[Any] | None = None,
        config_text: str = "",
    ) -> None:
        self.name, self.metric, self.mode, self.max_epochs = name, metric, mode, max_epochs
        self.hps = [dict(hp) for hp in hps]
        self.curves = [tuple(float(v) for v in c) for c in curves]
        self.seconds = (
            [tuple(float(v) for v in s) for s in seconds]
            if seconds is not None
            else [tuple(float(e) for e in range(1, len(c) + 1)) for c in self.curves]
        )
        self.ids = list(ids) if ids is not None else list(range(len(self.hps)))
        self.config_text = config_text
        names = list(self.hps[0])
        self.categorical = [n for n in names if not all(_is_number(hp[n]) for hp in self.hps)]
        numeric = [n for n in names if n not in self.categorical]
        # A numeric column that never varies (a fixed kernel size) says nothing about distance.
        self.numeric = [n for n in numeric if len({hp[n] for hp in self.hps}) > 1]
        self.scales = {n: scale_of([hp[n] for hp in self.hps], n) for n in self.numeric}
        self.floors = {
            n: min((float(hp[n]) for hp in self.hps if float(hp[n]) > 0), default=1.0)
            for n in self.numeric
        }
        self.groups: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        members: dict[tuple[Any, ...], list[int]] = {}
        for index, hp in enumerate(self.hps):
            members.setdefault(self._key(hp), []).append(index)
        for key, indices in members.items():
            points = np.array([self._point(self.hps[i]) for i in indices], dtype=float)
            low, high = points.min(axis=0), points.max(axis=0)
            span = np.where(high > low, high - low, 1.0)
            self.groups[key] = (np.array(indices), (points - low) / span, np.stack([low, span]))

    def _key(self, hp: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(str(hp.get(n)) for n in self.categorical)

    def _point(self, hp: Mapping[str, Any]) -> list[float]:
        point = []
        for n in self.numeric:
            value = float(hp[n])
            if self.scales[n] == "log":
                value = math.log(max(value, self.floors[n]))
            point.append(value)
        return point

    @property
    def reference(self) -> float:
        best = max if self.mode == "max" else min
        return best(best(c) for c in self.curves)

    def snap(self, hp: Mapping[str, Any]) -> int:
        """The index of the recorded configuration nearest ``hp``."""
        key = self._key(hp)
        if key not in self.groups:
            values = dict(zip(self.categorical, key, strict=True))
            raise KeyError(f"{self.name}: no recorded configuration has {values}")
        indices, points, (low, span) = self.groups[key]
        point = (np.array(self._point(hp)) - low) / span
        return int(indices[int(np.argmin(((points - point) ** 2).sum(axis=1)))])

    def config(self, overrides: Mapping[str, Any] | None = None, seed: int = 0) -> ExperimentConfig:
        return load_with(self.name, self.config_text, overrides, seed)

    def curve(self, hp: Mapping[str, Any]) -> tuple[Any, tuple[float, ...], tuple[float, ...]]:
        index = self.snap(hp)
        return self.ids[index], self.curves[index], self.seconds[index]


def load_with(
    name: str, text: str, overrides: Mapping[str, Any] | None = None, seed: int = 0
) -> ExperimentConfig:
    """The config ``text`` with ``--set``-style ``overrides`` and ``seed``, loaded as the command
    line loads a file (``raytune-hp tune <name>.yaml --set key=value``)."""
    from raytune_hp.config import load_config

    items = [f"{key}={_yaml_value(value)}" for key, value in (overrides or {}).items()]
    return load_config(f"{name}.yaml", overrides=[*items, f"seed={seed}"], text=text)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RecordedTask(ListBenchmark):
    """A task of :mod:`curve_tasks` read from its recorded file."""

    def __init__(self, name: str, path: Path | None = None) -> None:
        from curve_tasks import TASKS, read_curves

        task = TASKS[name]
        config = task.config()
        _, curves = read_curves(path or task.path)
        super().__init__(
            name,
            config.train.metric,
            config.train.mode,
            config.train.max_epochs,
            [c.hp for c in curves],
            [c.metric for c in curves],
            [c.seconds for c in curves],
            [c.id for c in curves],
            task.config_text,
        )
        self.description = task.data
        self.sources = {c.id: c.source for c in curves}


# ---------------------------------------------------------------------------------------------
# Methods: how a search proposes and prunes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """A raytune-hp search: a name and ``--set``-style config overrides of the task's config.

    ``priors`` says the method reads the space's priors (it runs on every prior variant of a
    synthetic function, good and bad; a prior-free method runs once per function). ``needs``:
    settings this checkout's config must accept for the method to mean what its name says
    (checked, not applied), for a method whose overrides are all keys that exist today.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    priors: bool = False
    note: str = ""
    needs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OptunaMethod:
    """Optuna's TPE sampler (its defaults) with one of its pruners (``none``, ``median``,
    ``sha``, ``hyperband``), over the task's space as raytune-hp resolves it."""

    name: str
    pruner: str = "none"
    priors: bool = False
    note: str = ""


AnyMethod = Method | OptunaMethod


def unavailable(method: AnyMethod, bench: Benchmark) -> str | None:
    """Why ``method`` cannot run on ``bench`` with this checkout (a config key main lacks), or
    ``None`` when it can."""
    if isinstance(method, OptunaMethod):
        try:
            import optuna  # noqa: F401
        except ImportError:
            return "Optuna is not installed (pip install -e '.[bench]')"
        return None
    try:
        if method.needs:
            bench.config({**method.overrides, **method.needs}).search_space()
        bench.config(method.overrides).search_space()
    except (RaytuneHPError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"this checkout does not accept its config: {first}"
    return None


# ---------------------------------------------------------------------------------------------
# Engines: one search's proposals and pruning decisions, behind one small interface
# ---------------------------------------------------------------------------------------------


class Engine(Protocol):
    def start(self, number: int) -> tuple[Any, Mapping[str, Any]] | None:
        """A new trial: ``(token, configuration)``, or ``None`` when the search has no more."""

    def result(self, token: Any, epoch: int, value: float, seconds: float, last: bool) -> bool:
        """One epoch's result; ``True`` stops the trial."""

    def complete(self, token: Any, epoch: int, value: float, seconds: float, stopped: bool) -> None:
        """The trial ended: stopped early, or after its last epoch."""


class MemoryStore:
    """An experiment store in memory: where ``PersistentASHA`` keeps its rungs here."""

    location = "memory"

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write_bytes(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def write_text(self, name: str, text: str) -> None:
        self.files[name] = text.encode()

    def exists(self, name: str = "") -> bool:
        return name in self.files

    def read_bytes(self, name: str) -> bytes:
        return self.files[name]


def product_search(config: ExperimentConfig, k: int) -> tuple[Any, Any]:
    """``(searcher, scheduler)`` exactly as an experiment builds them (``raytune_hp.experiment``):
    the strategy's searcher over the config's resolved space, at most ``k`` trials open, and the
    early stopping with its rungs in memory."""
    from raytune_hp.early_stopping import build_early_stopping
    from raytune_hp.search import build_search

    plan = build_search(config, config.search_space(), k)
    return plan.searcher, build_early_stopping(config, MemoryStore())


class RaytuneEngine:
    """raytune-hp's searcher and early stopping, driven as Tune's controller drives them."""

    def __init__(self, config: ExperimentConfig, k: int) -> None:
        self.metric = config.train.metric
        self.searcher, self.scheduler = product_search(config, k)
        self.trials: dict[str, Any] = {}
        self.results: dict[str, dict[str, Any]] = {}

    def start(self, number: int) -> tuple[Any, Mapping[str, Any]] | None:
        from ray.tune.search import Searcher

        trial_id = f"{number:05d}"
        hp = self.searcher.suggest(trial_id)
        if hp is None or hp == Searcher.FINISHED:
            return None
        trial = SimpleNamespace(trial_id=trial_id, config=hp)
        self.trials[trial_id] = trial
        self.scheduler.on_trial_add(None, trial)
        return trial_id, hp

    def result(self, token: Any, epoch: int, value: float, seconds: float, last: bool) -> bool:
        from ray.tune.schedulers import TrialScheduler

        result = {
            "epoch": epoch,
            self.metric: value,
            "training_iteration": epoch,
            "time_total_s": seconds,
            "trial_id": token,
        }
        self.results[token] = result
        decision = self.scheduler.on_trial_result(None, self.trials[token], result)
        if decision == TrialScheduler.STOP:
            return True
        self.searcher.on_trial_result(token, result)
        return False

    def complete(self, token: Any, epoch: int, value: float, seconds: float, stopped: bool) -> None:
        result = dict(self.results[token], done=True)
        self.scheduler.on_trial_complete(None, self.trials[token], result)
        self.searcher.on_trial_complete(token, result)


class OptunaEngine:
    """Optuna's ask-and-tell: TPE with its defaults, ``report`` and ``should_prune`` each epoch,
    a pruned trial told as pruned, a finished one with its last epoch's metric."""

    def __init__(self, config: ExperimentConfig, pruner: str, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = config.search_space()
        self.optuna = optuna
        self.study = optuna.create_study(
            direction="maximize" if config.train.mode == "max" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna_pruner(pruner, config.train.max_epochs),
        )
        self.trials: dict[int, Any] = {}

    def start(self, number: int) -> tuple[Any, Mapping[str, Any]] | None:
        from common import suggest_optuna

        trial = self.study.ask()
        self.trials[number] = trial
        return number, suggest_optuna(trial, self.space)

    def result(self, token: Any, epoch: int, value: float, seconds: float, last: bool) -> bool:
        trial = self.trials[token]
        trial.report(value, epoch)
        return not last and bool(trial.should_prune())

    def complete(self, token: Any, epoch: int, value: float, seconds: float, stopped: bool) -> None:
        trial = self.trials.pop(token)
        if stopped:
            self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, value)


def optuna_pruner(name: str, max_epochs: int) -> Any:
    """Optuna's pruners as an expert sets them for ``max_epochs`` epochs and a 30-trial budget:

    - ``median``: ``MedianPruner`` after 5 complete trials and a tenth of the epochs (pruning at
      epoch 1 of 50 would judge noise);
    - ``sha``: ``SuccessiveHalvingPruner`` with ASHA's rungs as raytune-hp sets them (first rung
      at epoch 2, reduction factor 3);
    - ``hyperband``: ``HyperbandPruner`` from 1 epoch to ``max_epochs``, reduction factor 3
      (Optuna's documented setting).
    """
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=5, n_warmup_steps=max(1, max_epochs // 10)
        )
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max_epochs, reduction_factor=3
        )
    raise ValueError(f"pruner must be none, median, sha or hyperband; got {name!r}")


class ScriptedEngine:
    """Proposes given recorded configurations in order and stops trial ``i`` after the epochs
    ``stop_after[i]`` says: for examples and checks of the replay itself."""

    def __init__(self, indices: Sequence[int], stop_after: Mapping[int, int] | None = None) -> None:
        self.indices, self.stop_after = list(indices), dict(stop_after or {})
        self.bench: ListBenchmark | None = None

    def start(self, number: int) -> tuple[Any, Mapping[str, Any]] | None:
        if number >= len(self.indices) or self.bench is None:
            return None
        return number, self.bench.hps[self.indices[number]]

    def result(self, token: Any, epoch: int, value: float, seconds: float, last: bool) -> bool:
        return epoch >= self.stop_after.get(token, math.inf)

    def complete(self, token: Any, epoch: int, value: float, seconds: float, stopped: bool) -> None:
        return None


# ---------------------------------------------------------------------------------------------
# The replay
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """The state of a search when one of its trials finished."""

    trials: int  # finished so far
    epochs: int  # trained so far by every trial, running ones included
    seconds: float  # virtual seconds so far
    incumbent: Any  # the reported trial's recorded configuration id
    score: float  # its best epoch's metric
    regret: float


@dataclass(frozen=True)
class TrialRecord:
    number: int  # the order it started in
    config_id: Any
    epochs: int
    score: float  # best epoch's metric among the epochs it trained
    stopped: bool  # stopped early by the pruner


@dataclass
class SearchRun:
    """One search on one benchmark: its steps (one per finished trial) and its trials."""

    bench: str
    method: str
    seed: int
    steps: list[Step] = field(default_factory=list)
    trials: list[TrialRecord] = field(default_factory=list)
    searcher_s: float = 0.0  # real seconds spent in the searcher and scheduler

    def at_trials(self, n: int) -> Step:
        return self.steps[min(n, len(self.steps)) - 1]

    @property
    def final(self) -> Step:
        return self.steps[-1]


def regret_of(score: float, reference: float, mode: str) -> float:
    """How far ``score`` is from ``reference``, positive when worse.

    Example:
        >>> regret_of(0.9, 0.95, "max"), regret_of(0.52, 0.5, "min")
        (0.04999999999999993, 0.020000000000000018)
    """
    return reference - score if mode == "max" else score - reference


def replay(
    bench: Benchmark,
    method_name: str,
    engine: Engine,
    trials: int = TRIALS,
    k: int = K,
    seed: int = 0,
) -> SearchRun:
    """Runs one search of ``trials`` trials, ``k`` at once, in virtual time.

    Each trial's epochs end at its start time plus the recorded cumulative seconds; events are
    handled in time order (ties by trial number). A freed slot starts the next trial at once.
    """
    if isinstance(engine, ScriptedEngine):
        engine.bench = bench  # type: ignore[assignment]
    better = max if bench.mode == "max" else min
    run = SearchRun(bench.name, method_name, seed)
    events: list[tuple[float, int, Any]] = []
    running: dict[Any, dict[str, Any]] = {}
    clock, epochs, started = 0.0, 0, 0
    incumbent: tuple[float, Any] | None = None

    def fill() -> None:
        nonlocal started
        while len(running) < k and started < trials:
            began = time.perf_counter()
            proposal = engine.start(started)
            run.searcher_s += time.perf_counter() - began
            if proposal is None:
                return
            token, hp = proposal
            config_id, metric, seconds = bench.curve(hp)
            running[token] = {
                "number": started,
                "start": clock,
                "id": config_id,
                "metric": metric,
                "seconds": seconds,
                "epoch": 0,
            }
            heapq.heappush(events, (clock + seconds[0], started, token))
            started += 1

    fill()
    while events:
        clock, _, token = heapq.heappop(events)
        trial = running[token]
        trial["epoch"] += 1
        epoch = trial["epoch"]
        epochs += 1
        value = trial["metric"][epoch - 1]
        last = epoch == len(trial["metric"])
        began = time.perf_counter()
        stop = engine.result(token, epoch, value, trial["seconds"][epoch - 1], last)
        if stop or last:
            engine.complete(token, epoch, value, trial["seconds"][epoch - 1], stop and not last)
            run.searcher_s += time.perf_counter() - began
            del running[token]
            score = better(trial["metric"][:epoch])
            run.trials.append(
                TrialRecord(trial["number"], trial["id"], epoch, score, stop and not last)
            )
            if incumbent is None or better(score, incumbent[0]) != incumbent[0]:
                incumbent = (score, trial["id"])
            run.steps.append(
                Step(
                    len(run.trials),
                    epochs,
                    clock,
                    incumbent[1],
                    incumbent[0],
                    regret_of(incumbent[0], bench.reference, bench.mode),
                )
            )
            fill()
        else:
            run.searcher_s += time.perf_counter() - began
            heapq.heappush(
                events,
                (trial["start"] + trial["seconds"][epoch], trial["number"], token),
            )
    return run


def run_method(
    bench: Benchmark, method: AnyMethod, seed: int, trials: int = TRIALS, k: int = K
) -> SearchRun:
    """One search of ``method`` on ``bench`` with ``seed`` (the config's ``seed``, which seeds
    raytune-hp's searcher, or Optuna's sampler's seed) and ``search.num_samples = trials``."""
    overrides = {"search.num_samples": trials}
    if isinstance(method, OptunaMethod):
        engine: Engine = OptunaEngine(bench.config(overrides, seed), method.pruner, seed)
    else:
        engine = RaytuneEngine(bench.config({**overrides, **method.overrides}, seed), k)
    return replay(bench, method.name, engine, trials, k, seed)
