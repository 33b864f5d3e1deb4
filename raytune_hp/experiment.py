"""Running an experiment: Ray up, Tuner built from the config, results into the experiment folder.

The folder (``<storage>/<name>/``) holds ``config.yaml`` (the config as run), Ray Tune's trial
folders with their TensorBoard events (under ``coarse/`` and ``fine/`` for coarse-to-fine, with
the narrowed ``fine_space.yaml`` beside them; under ``more-1/``, ... for each run that grew a
finished experiment), ``runs.json`` (how many trials each of those runs was to have),
``summary.md`` and ``best_config.yaml`` (and ``budget.json`` under ``search.budget``: the time
spent and the trials stopped at the budget's end). An existing experiment is resumed
(``resume=True``) or refused, never overwritten; resuming with a larger ``search.num_samples``
(or ``search.budget``) grows it.

A run leaves the calling process as it found it: environment variables set for Ray Tune are put
back, a Ray session it started is shut down (one it found running is left running), and it prints
only when ``verbose``.

Example:
    >>> from raytune_hp.config import load_config
    >>> result = run_experiment(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
    >>> result.best_metric  # doctest: +SKIP
    0.9861
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.budget import (
    BudgetRecord,
    budget_ledger,
    budget_plan,
    grown_budget,
    has_room,
    planned_trials,
    trial_cap,
)
from raytune_hp.checks import capacity_findings
from raytune_hp.cluster import ClusterShape, cluster_shape, plan_trials, spans_nodes
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.config.budget import BudgetConfig
from raytune_hp.driver_lock import driver_lock, holds_anything, refuse_if_held
from raytune_hp.early_stopping import build_early_stopping
from raytune_hp.errors import ConfigError, ExperimentExistsError
from raytune_hp.metrics import EPOCH, TASK_METRICS, TRAIN_LOSS
from raytune_hp.models import capacity_limit
from raytune_hp.report import TrialRecord, load_trials, write_reports
from raytune_hp.report.trials import run_name
from raytune_hp.results import ExperimentResult
from raytune_hp.signals import StopSignals
from raytune_hp.snapshots import incremental_snapshots
from raytune_hp.spaces import Dimension, SearchSpace, contains, flatten
from raytune_hp.storage import (
    CONFIG_FILE,
    FINE_SPACE_FILE,
    MORE,
    PHASES,
    ExperimentStore,
    is_experiment,
    rooted_at,
)
from raytune_hp.storage_access import check_storage
from raytune_hp.storage_faults import (
    raise_if_stopped,
    ray_filesystem,
    saved_trial_ids,
    set_aside_damaged_states,
    write_guard,
)
from raytune_hp.user_code import UserCode

RUNS_FILE = "runs.json"
"""How many trials each run of the experiment (its folder: ``""`` for the top, a phase, or a
``more-<k>`` that grew it) was to have: what tells a finished run from an interrupted one. Under
a budget it is the run's cap on trials, 0 for none: such a run is over when its budget is."""


def experiment_store(config: ExperimentConfig) -> ExperimentStore:
    """``<storage>/<name>``: an absolute path (Ray needs one for local storage) or a URI."""
    return ExperimentStore.of(config.storage, config.name)


def run_experiment(
    config: ExperimentConfig,
    resume: bool = False,
    address: str | None = None,
    given: Mapping[str, Any] | None = None,
    verbose: bool = False,
    num_samples: int | None = None,
    progress_table: bool = False,
    budget: BudgetConfig | None = None,
    trust_folder: bool = False,
) -> ExperimentResult:
    """Runs (or resumes) the experiment ``config`` describes and writes its reports.

    ``given`` holds the code handed over as Python objects, by config key (``train.function``,
    ...: see :data:`raytune_hp.user_code.CODE_KEYS`). On ``resume`` the experiment continues as
    its ``config.yaml`` says (``config`` only names its folder); ``num_samples``, when given,
    grows it to that many trials (under a budget: raises its cap), and ``budget`` grows its
    budget: the searcher learns from every trial so far, and ASHA prunes against the same rungs.
    ``verbose`` prints the plan, where the results go and the progress as one line
    (:class:`raytune_hp.progress.ProgressLine`), or with ``progress_table`` Ray Tune's table of
    trials instead of that line. A resume unpickles Ray's state only where this user's runs
    signed it, unless ``trust_folder`` (:mod:`raytune_hp.folder_trust`).

    Only one driver runs an experiment at a time: its lock
    (:func:`raytune_hp.driver_lock.driver_lock`) is held from before anything is written until
    the end.

    Raises:
        ExperimentLockedError: another driver runs or resumes the experiment right now.
        StorageWriteError: the folder could not be written (disk full, read-only, permission):
            the run stopped, and resumes once it can be written.
        ExperimentExistsError: the folder exists and ``resume`` is false, or ``resume`` is true
            and the folder holds no experiment.
        ConfigError: an import path or a warm-start experiment that does not resolve, or a
            ``num_samples`` or ``budget`` below the experiment's.
        UntrustedFolderError: on ``resume``, a pickle in the folder this user's runs did not
            sign, and ``trust_folder`` is false.
    """
    check_storage(config.storage, config.name)  # before Ray starts or anything is written
    store = experiment_store(config)
    run = _Run(
        config, resume, address, given, verbose, num_samples, progress_table, budget, trust_folder
    )
    with _environment_kept():
        if (resume and not store.exists()) or (not resume and holds_anything(store)):
            refuse_if_held(store)  # a driver running it now is what to say first
            return _run_experiment(run)  # refused before the lock: nothing is written
        if resume:
            refuse_if_held(store)
            # Refused here, before a lock is written; read again under the lock, where no other
            # driver can grow the experiment meanwhile.
            _resumed_config(store, num_samples, budget)
        with driver_lock(store):
            return _run_experiment(run)


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """The calling process's environment variables as they were, whatever the run's libraries
    (scikit-learn, imported by a user's data loader before Ray starts, sets two) changed."""
    environment = dict(os.environ)
    try:
        yield
    finally:
        if dict(os.environ) != environment:
            os.environ.clear()
            os.environ.update(environment)


@dataclasses.dataclass(frozen=True)
class _Run:
    """What a call of :func:`run_experiment` asks for: its arguments, as it documents them."""

    config: ExperimentConfig
    resume: bool
    address: str | None
    given: Mapping[str, Any] | None
    verbose: bool
    num_samples: int | None
    progress_table: bool
    budget: BudgetConfig | None
    trust_folder: bool


def _run_experiment(run: _Run) -> ExperimentResult:
    """The body of :func:`run_experiment`, run while holding the experiment's lock."""
    config, resume, verbose = run.config, run.resume, run.verbose
    store = experiment_store(config)
    where = store.location
    if resume:
        from raytune_hp.folder_trust import check_resumable, run_folders

        config = _resumed_config(store, run.num_samples, run.budget)
        for folder in run_folders(store):
            if is_experiment(folder, own_config=False):
                set_aside_damaged_states(folder)  # renamed, not read: a cut-off state is no code
        check_resumable(store, run.trust_folder)
    elif holds_anything(store):
        raise ExperimentExistsError(
            f"{where} must not exist yet for a new experiment; got an existing folder "
            "(pass --resume to continue it, or --name to start another)"
        )
    code = UserCode.of(config, run.given)  # resolved before Ray starts or anything is written
    space = config.search_space()
    past_trials = _warm_start_trials(config, space)
    data = code.dataset(config)  # bad data is refused before Ray starts (data_sanity)

    def say(line: str) -> None:
        if verbose:
            print(line)

    stop = StopSignals()  # SIGTERM and SIGHUP stop the run as Ctrl-C does
    with rooted_at(store), _tune_environment(), stop.caught(), _ray_session(run.address) as started:
        stop.catch()
        shape = cluster_shape(attached=run.address is not None or not started)
        _check_storage_is_shared(config, store, shape)
        resources = config.resources
        plan = plan_trials(
            shape, resources.cpus_per_trial, resources.gpus_per_trial, config.search.max_concurrent
        )
        say(f"raytune-hp: {plan.reason}")
        if config.search.budget is not None:
            say(f"raytune-hp: budget {budget_plan(config)}")
        _warn_capacity(config, code, data, verbose)
        trainable = _trainable(config, code, data, plan.gpus_per_trial)
        runner = _PhaseRunner(
            config, store, trainable, resume, verbose, plan.concurrent, run.progress_table
        )
        if not resume:
            store.write_text(CONFIG_FILE, config.to_yaml())
        elif store.read_text(CONFIG_FILE) != config.to_yaml():
            store.write_text(CONFIG_FILE, config.to_yaml())  # grown: the larger budget
        say(f"Experiment folder: {where}\nTensorBoard:       tensorboard --logdir {where}\n")
        try:
            if config.search.strategy == "coarse-to-fine":
                _coarse_to_fine(runner, config, space)
            else:
                strategy, planned = config.search.strategy, planned_trials(config)
                trials = runner.run(
                    None, space, strategy, planned, past_trials, cap=trial_cap(config)
                )
                runner.grow(space, strategy, trials)
            interrupted = False
        except _Interrupted:
            interrupted = True
    say("Writing summary.md, best_config.yaml and plots…")
    with stop.held():
        trials = write_reports(store, config)
    interrupted = interrupted or stop.received is not None
    return ExperimentResult(where, config, trials, interrupted, stop.received)


def _resumed_config(
    store: ExperimentStore, num_samples: int | None, budget: BudgetConfig | None = None
) -> ExperimentConfig:
    """The experiment's own config, grown to ``num_samples`` trials and to ``budget`` where
    they are given.

    Raises:
        ExperimentExistsError: the folder holds no experiment.
        ConfigError: ``num_samples`` or ``budget`` is below the experiment's (it grows, it never
            shrinks), counts something else, or cannot grow it.
    """
    where = store.location
    if not is_experiment(store):
        found = "a folder without them" if store.exists() else "no such folder"
        raise ExperimentExistsError(
            f"--resume: {where} must hold an earlier experiment (its {CONFIG_FILE} and Ray's "
            f"experiment state); got {found}"
        )
    stored = load_config(f"{where}/{CONFIG_FILE}", text=store.read_text(CONFIG_FILE))
    updates: dict[str, Any] = {}
    if num_samples is not None and num_samples != trial_cap(stored):
        if stored.search.strategy == "grid":
            raise ConfigError(
                "--resume: search.num_samples must not be given to grow a grid (it has one "
                f"trial per point, whatever the budget); got {num_samples}"
            )
        if stored.search.budget is not None and trial_cap(stored) is None:
            raise ConfigError(
                f"--resume: search.num_samples must not be given to an experiment whose budget "
                f"({stored.search.budget}) caps no trials (grow search.budget instead); got "
                f"{num_samples}"
            )
        if num_samples < stored.search.num_samples:
            raise ConfigError(
                f"--resume: search.num_samples must be at least the experiment's "
                f"{stored.search.num_samples} (it grows, it never shrinks); got {num_samples}"
            )
        updates["num_samples"] = num_samples
    if budget is not None and budget != stored.search.budget:
        updates["budget"] = grown_budget(stored, budget)
    if not updates:
        return stored
    search = stored.search.model_copy(update=updates)
    return stored.model_copy(update={"search": search})


def _without_tune_resume_hint(record: logging.LogRecord) -> bool:
    """Drops what Ray Tune logs when a run is interrupted ("Resume experiment with:
    Tuner.restore(...)"): a raytune-hp experiment resumes with ``--resume`` (``resume=True``),
    which the command line says instead."""
    return "Tuner.restore(" not in record.getMessage()


@contextlib.contextmanager
def _tune_environment() -> Iterator[None]:
    """Ray Tune's settings that raytune-hp relies on, put back as they were afterwards."""
    settings = {
        # Ray's automatic CSV/JSON/TensorBoard loggers: trials write their own TensorBoard
        # events, and the JSON/CSV ones are added back explicitly (_run_config).
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
        # Ray's classic progress table shows every tuned hyperparameter beside the metrics; the
        # newer output prints a result box per finished trial instead.
        "RAY_AIR_NEW_OUTPUT": "0",
        # A checkpoint every epoch is what resume needs. With num_to_keep Tune then snapshots
        # the experiment state every other checkpoint of any trial on storage other than a local
        # folder (incremental_snapshots leaves a local folder to Tune's period), and warns about
        # it each time.
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": os.environ.get(
            "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0"
        ),
    }
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    tune_log = logging.getLogger("ray.tune.tune")
    tune_log.addFilter(_without_tune_resume_hint)
    try:
        yield
    finally:
        tune_log.removeFilter(_without_tune_resume_hint)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """The logger ``name`` says only errors while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _ray_session(address: str | None) -> Iterator[bool]:
    """A Ray session for the run: the one already running, or one started (attached to
    ``address``, or local) and shut down at the end, with the environment variables Ray set for
    it put back (``ray.init`` points ``PYTHONBREAKPOINT`` at Ray's debugger, for one). Yields
    whether it started the session."""
    import ray

    if ray.is_initialized():
        yield False
        return
    environment = dict(os.environ)
    local = address is None and not os.environ.get("RAY_ADDRESS")
    if local:  # inherited by the raylet this session starts, hence by its workers
        from ray.tune.execution.class_cache import DEFAULT_ENV_VARS

        for name, value in DEFAULT_ENV_VARS.items():
            os.environ.setdefault(name, value)
    # A new local session has token authentication on (Ray's default, the token in
    # ~/.ray/auth_token), and Ray warns that it turned it on; raytune-hp keeps the default and
    # drops the warning.
    with _quiet(_RAY_AUTH_LOGGER), StopSignals.shielding():
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=True,
        )
    try:
        with _trial_workers_prestarted() if local else contextlib.nullcontext():
            yield True
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(environment)


@contextlib.contextmanager
def _trial_workers_prestarted() -> Iterator[None]:
    """Trials run in the worker processes a local Ray session starts with it (one per CPU),
    rather than each in a new process.

    Ray Tune gives every trial's actor a runtime environment of its own (``PL_DISABLE_FORK=1``,
    for PyTorch Lightning), and Ray never gives an actor a worker started without it: each trial
    waited for a new process (benchmarks/results/startup.md). Here the variable is set for every
    worker of the session instead (:func:`_ray_session`), which is what the runtime environment
    did. Where the user set a value of their own, Tune's runtime environment still overrides it
    in the trials, as before.
    """
    from ray.tune.execution import class_cache

    extra = dict(class_cache.DEFAULT_ENV_VARS)
    if any(os.environ.get(name, value) != value for name, value in extra.items()):
        yield  # the user's own value: Tune's runtime environment keeps overriding it
        return
    class_cache.DEFAULT_ENV_VARS.clear()
    try:
        yield
    finally:
        class_cache.DEFAULT_ENV_VARS.update(extra)


def _warn_capacity(config: ExperimentConfig, code: UserCode, data: Any, verbose: bool) -> None:
    """Says once, before any trial, where the space's models break the capacity rule (unless
    they are skipped: then each skipped trial says so in the summary)."""
    builder = code.model_builder(config)
    if builder is None or config.train.capacity == "skip":
        return
    for finding in capacity_findings(config, data, builder):
        if finding.level == "ok":
            continue
        if verbose:
            print(f"raytune-hp: warning: {finding.what}", file=sys.stderr)
        else:
            warnings.warn(f"raytune-hp: {finding.what}", stacklevel=_caller_level())


def _caller_level() -> int:
    """The stack level of the first caller outside raytune-hp, for a warning to point at."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("raytune_hp"):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


class _Interrupted(Exception):
    """A phase stopped before all its trials finished (Ctrl-C): later phases must not start."""


_UNFINISHED = ("running", "pending", "paused")  # as the trials read back say


def _check_storage_is_shared(
    config: ExperimentConfig, store: ExperimentStore, shape: ClusterShape
) -> None:
    """Since Ray 2.7 the head no longer gathers trial folders: where trials may run on another
    node than the driver (a cluster of several nodes, or one that can grow to several), every
    node must write to one shared place (ray-project/ray #37177)."""
    if spans_nodes(shape) and store.is_local and not config.shared_storage:
        nodes = (
            f"nodes of the cluster, which can grow to {shape.max_nodes}"
            if shape.autoscaling
            else f"{shape.max_nodes} nodes of the cluster"
        )
        raise ConfigError(
            f"storage must be shared by all {nodes} (s3://..., gs://..., or an NFS folder with "
            f"shared_storage: true); got the local folder {config.storage!r}"
        )


def _reported_metrics(config: ExperimentConfig) -> list[str]:
    """The metrics trials report, the searched one first: TensorBoard's HParams columns and the
    progress table's."""
    reported = [] if config.train.function else list(TASK_METRICS[config.train.task])
    return list(dict.fromkeys([config.train.metric, *reported, TRAIN_LOSS]))


def _coarse_to_fine(runner: _PhaseRunner, config: ExperimentConfig, space: SearchSpace) -> None:
    """Random search over the whole space, then TPE over the space around its best trials."""
    coarse, fine = PHASES
    fraction, cap = config.search.coarse_fraction, trial_cap(config)
    if config.search.budget is None:
        coarse_samples = runner.planned(coarse, max(1, round(config.search.num_samples * fraction)))
        fine_samples = runner.planned(fine, max(1, config.search.num_samples - coarse_samples))
    else:  # the coarse phase gets its share of the budget (and of the cap), the fine the rest
        coarse_samples = max(1, round(planned_trials(config) * fraction))
        fine_samples = max(1, planned_trials(config) - coarse_samples)
    from raytune_hp.search import PastTrial, narrowed_space

    coarse_cap = max(1, round(cap * fraction)) if cap else None
    coarse_trials = runner.run(
        coarse, space, "random", coarse_samples, cap=coarse_cap, share=fraction
    )
    trials = [t for t in coarse_trials if t.best is not None]
    if runner.store.exists(FINE_SPACE_FILE):
        overrides = yaml.safe_load(runner.store.read_text(FINE_SPACE_FILE))
    else:
        top_k = config.search.top_k or max(3, math.ceil(0.2 * len(trials)))
        narrowed = narrowed_space(space, [t.hparams for t in trials[:top_k]])
        # What the config fixed, added or set for the whole space stays as it was.
        overrides = {**config.space, **narrowed}
        runner.store.write_text(FINE_SPACE_FILE, yaml.safe_dump(overrides, sort_keys=False))
    fine_space = config.search_space(overrides)
    # The coarse trials inside the fine space are TPE's history from the start; none is re-run.
    past_trials = [
        PastTrial(t.hparams, t.best)
        for t in trials
        if t.best is not None and contains(fine_space, t.hparams)
    ]
    fine_cap = max(1, cap - len(coarse_trials)) if cap else None
    fine_trials = runner.run(
        fine, fine_space, "bayes", fine_samples, past_trials, start_points=[], cap=fine_cap
    )
    runner.grow(fine_space, "bayes", trials + fine_trials)


class _PhaseRunner:
    """Builds and runs one Tuner per run of the experiment (the whole experiment, a phase, or a
    run that grew it) inside the experiment folder."""

    def __init__(
        self,
        config: ExperimentConfig,
        store: ExperimentStore,
        trainable: Any,
        resume: bool,
        verbose: bool,
        concurrent: int,
        progress_table: bool = False,
    ) -> None:
        self.config, self.store, self.trainable = config, store, trainable
        self.resume, self.verbose, self.concurrent = resume, verbose, concurrent
        self.progress_table = progress_table
        self._runs: dict[str, int] = (
            json.loads(store.read_text(RUNS_FILE)) if store.exists(RUNS_FILE) else {}
        )

    def planned(self, folder: str, trials: int) -> int:
        """How many trials the run in ``folder`` is to have: as first planned (written down
        before it starts, so a resume knows), or ``trials`` for a new run."""
        if folder not in self._runs:
            self._runs[folder] = trials
            self.store.write_text(RUNS_FILE, json.dumps(self._runs, indent=2) + "\n")
        return self._runs[folder]

    def grow(self, space: SearchSpace, strategy: str, trials: list[TrialRecord]) -> None:
        """Runs more trials until the experiment has ``search.num_samples`` (a resume that asked
        for more): each further run's searcher learns from every finished trial, and ASHA prunes
        against the rungs the experiment already has. A grid never grows.

        Raises:
            _Interrupted: a run stopped before every trial ended.
        """
        from raytune_hp.search import PastTrial

        if strategy == "grid":
            return  # one trial per point: a grid has its size, whatever search.num_samples says
        if self.config.search.budget is not None:
            self._grow_budget(space, strategy, trials)
            return
        grown = 1
        while True:
            folder = MORE.format(grown)
            missing = self.config.search.num_samples - sum(self._runs.values())
            if folder not in self._runs and missing <= 0:
                return
            past = [PastTrial(t.hparams, t.best) for t in trials if t.best is not None]
            past = [p for p in past if contains(space, p.config)]
            trials = trials + self.run(
                folder, space, strategy, self.planned(folder, missing), past, start_points=[]
            )
            grown += 1

    def _grow_budget(self, space: SearchSpace, strategy: str, trials: list[TrialRecord]) -> None:
        """Under a budget, runs more trials while the budget has room and the cap on trials (if
        any) is not reached: after a resume that gave a larger budget or cap."""
        from raytune_hp.search import PastTrial

        grown, added = 1, None
        while True:
            folder = MORE.format(grown)
            everything = load_trials(self.store, self.config)
            spent = sum(t.epochs for t in everything)
            cap = trial_cap(self.config)
            missing = None if cap is None else cap - len(everything)
            full = missing is not None and missing <= 0
            room = has_room(self.config, spent, BudgetRecord.read(self.store))
            if folder not in self._runs and (full or not room or added == 0):
                return
            past = [PastTrial(t.hparams, t.best) for t in trials if t.best is not None]
            past = [p for p in past if contains(space, p.config)]
            planned = planned_trials(self.config, spent)
            planned = min(planned, missing) if missing is not None and missing > 0 else planned
            more = self.run(folder, space, strategy, planned, past, start_points=[], cap=missing)
            trials, added, grown = trials + more, len(more), grown + 1

    def run(
        self,
        phase: str | None,
        space: SearchSpace,
        strategy: str,
        num_samples: int,
        past_trials: list[Any] | None = None,
        start_points: list[dict[str, Any]] | None = None,
        cap: int | None = None,
        share: float = 1.0,
    ) -> list[TrialRecord]:
        """Runs (or resumes) one run and returns its trials. Under a budget ``num_samples`` only
        sizes what is sized in trials: trials are proposed until the budget (``share`` of it,
        counted from the experiment's start) is spent, at most ``cap`` of them.

        Raises:
            _Interrupted: the run stopped before every trial ended.
        """
        from ray import tune

        from raytune_hp.search import build_search
        from raytune_hp.search.generator import FolderSearchGenerator

        folder = phase or ""
        target = self.store.child(phase) if phase else self.store
        if phase:
            storage, name = self.store.location, phase
        else:
            storage = self.config.storage
            if self.store.is_local:
                storage = str(Path(storage).expanduser().resolve())
            name = self.config.name
        if self.resume and is_experiment(target, own_config=False):
            set_aside_damaged_states(target)
            self._forget_unsaved_trials(self._rungs_store(folder, target))
            tuner = tune.Tuner.restore(
                target.path,
                self.trainable,
                resume_unfinished=True,
                resume_errored=True,
                storage_filesystem=ray_filesystem(target),
            )
            with incremental_snapshots(target.is_local):
                tuner.fit()
            raise_if_stopped()
            expected = (cap or 0) if self.config.search.budget else num_samples
            return self._finished_trials(target, self.planned(folder, expected), folder)
        if phase and target.exists():
            return load_trials(target, self.config)  # a finished phase of a resumed experiment
        plan = build_search(
            self.config,
            space,
            self.concurrent,
            strategy,
            num_samples,
            past_trials or (),
            start_points,
        )
        searcher, samples, budget = plan.searcher, plan.num_samples, None
        if self.config.search.budget is not None:
            from raytune_hp.budget.tune_hooks import BudgetSearcher

            budget = self._budget(folder, share)
            searcher = BudgetSearcher(searcher, budget)
            if cap is not None:  # a grid keeps its size: the budget or the cap may cut it short
                samples = min(cap, samples) if strategy == "grid" else cap
            elif strategy != "grid":
                samples = -1  # Ray Tune's "until a stopper or the searcher ends it"
        planned = self.planned(folder, max(0, samples))
        tuner = tune.Tuner(
            self.trainable,
            tune_config=tune.TuneConfig(
                search_alg=FolderSearchGenerator(searcher, target),
                scheduler=build_early_stopping(self.config, self._rungs_store(folder, target)),
                num_samples=samples,
                reuse_actors=True,
                trial_dirname_creator=functools.partial(_trial_dirname, tuned=space.tuned),
            ),
            run_config=_run_config(
                self.config,
                storage,
                name,
                space,
                self.verbose,
                target,
                self.progress_table,
                folder,
                budget,
            ),
        )
        with incremental_snapshots(target.is_local):
            tuner.fit()
        raise_if_stopped()
        return self._finished_trials(target, planned, folder)

    def _budget(self, folder: str, share: float) -> Any:
        """The budget's stopper for the run in ``folder``, which may spend ``share`` of it
        (counted from the experiment's start: the epochs its earlier runs trained count)."""
        from raytune_hp.budget.tune_hooks import BudgetStopper

        earlier = load_trials(self.store, self.config)
        spent = sum(trial.epochs for trial in earlier if trial.phase != folder)
        return BudgetStopper(budget_ledger(self.config, share, spent), self.store, folder)

    def _forget_unsaved_trials(self, rungs: ExperimentStore) -> None:
        """Drops from ASHA's rungs in ``rungs`` the trials no saved state of the experiment
        names (:func:`~raytune_hp.early_stopping.persistent_asha.forget_unknown_trials`), unless
        a state cannot be read."""
        from raytune_hp.early_stopping.persistent_asha import forget_unknown_trials
        from raytune_hp.folder_trust import run_folders

        known: set[str] = set()
        for run in run_folders(self.store):
            ids = saved_trial_ids(run)
            if ids is None:
                return
            known |= ids
        forget_unknown_trials(rungs, known)

    def _rungs_store(self, folder: str, target: ExperimentStore) -> ExperimentStore:
        """Where ASHA keeps its rungs: each run's own folder, except that a run growing the
        experiment prunes against the rungs of the run it continues (the whole experiment's, or
        coarse-to-fine's fine phase)."""
        if not folder.startswith(MORE.format("")):
            return target
        phased = self.config.search.strategy == "coarse-to-fine"
        return self.store.child(PHASES[1]) if phased else self.store

    def _finished_trials(
        self, target: ExperimentStore, expected: int, folder: str
    ) -> list[TrialRecord]:
        """The run's trials; raises :class:`_Interrupted` unless every one ended and the run
        has them all: ``expected`` of them, or under a budget, the trials until its budget ran
        out (Ray returns early, state saved, when the run is interrupted)."""
        trials = load_trials(target, self.config)
        complete = len(trials) >= expected
        if self.config.search.budget is not None:
            ran_out = folder in BudgetRecord.read(self.store).exhausted
            complete = ran_out or (expected > 0 and complete)
        if any(t.status in _UNFINISHED for t in trials) or not complete:
            raise _Interrupted
        return trials


def _run_config(
    config: ExperimentConfig,
    storage: str,
    name: str,
    space: SearchSpace,
    verbose: bool,
    target: ExperimentStore,
    progress_table: bool = False,
    label: str = "",
    budget: Any = None,
) -> Any:
    """Ray Tune's settings for one run. With ``verbose`` it shows the progress as one line
    (named by ``label``: the run's folder, where the experiment has several runs), or as Ray's
    table with ``progress_table``. ``budget`` (a
    :class:`~raytune_hp.budget.tune_hooks.BudgetStopper`) stops the run's trials at the end of
    its budget."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from raytune_hp.folder_trust import FolderSigner
    from raytune_hp.trial_end import TrialEndWriter

    ends = TrialEndWriter(target, config.train.max_epochs, budget)
    # The budget's callback first: what it cuts is known before the trial's end is written.
    budgeted = [budget] if budget is not None else []
    callbacks: list[Any] = [JsonLoggerCallback(), CSVLoggerCallback(), *budgeted, ends]
    callbacks.append(FolderSigner(target))
    callbacks.append(write_guard())
    if config.train.trial_timeout is not None:
        from raytune_hp.timeouts import TrialTimeouts

        callbacks.insert(0, TrialTimeouts(config.train.trial_timeout, target))
    table = verbose and progress_table
    if verbose and not progress_table:
        from raytune_hp.progress import ProgressLine

        train = config.train
        callbacks.append(
            ProgressLine(train.metric, train.mode, train.max_epochs, label=label, budget=budget)
        )
    return tune.RunConfig(
        name=name,
        storage_path=storage,
        storage_filesystem=ray_filesystem(target) if target.is_local else None,
        callbacks=callbacks,
        stop=budget,
        # Each trial's latest checkpoint (Ray always keeps it: resume continues from it) and its
        # two best by the metric: the best epoch's weights, and one to fall back on when the
        # latest cannot be read (trial_state.restore).
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2,
            checkpoint_score_attribute=config.train.metric,
            checkpoint_score_order=config.train.mode,
        ),
        failure_config=tune.FailureConfig(max_failures=config.train.retries),
        sync_config=tune.SyncConfig(sync_artifacts=True),
        progress_reporter=_progress_reporter(config, space) if table else None,
        verbose=1 if table else 0,
    )


def _trainable(config: ExperimentConfig, code: UserCode, data: Any, gpus: float) -> Any:
    """The function trainable, its resources, and the data: loaded once and handed to every
    trial through Ray's object store. With ``train.capacity: skip``, a configuration whose model
    has more parameters than half the training samples is skipped before training."""
    from ray import tune

    from raytune_hp.tb_logger import hparams_layout
    from raytune_hp.trainable import TrialSettings, tune_trainable

    skip = config.train.capacity == "skip"
    settings = TrialSettings(
        config.model.name,
        config.train.max_epochs,
        config.seed,
        builder=code.builder,
        function=code.function,
        max_params=capacity_limit(data.train_size) if skip else None,
        precision=config.train.precision,
        task=config.train.task,
        loss=code.loss,
        metric=config.train.metric,
        tensorboard=hparams_layout(
            config.search_space(),
            config.train.metric,
            config.train.mode,
            _reported_metrics(config),
        ),
    )
    resources = {"cpu": config.resources.cpus_per_trial, "gpu": gpus}
    return tune.with_parameters(
        tune.with_resources(tune_trainable, resources), data=data, settings=settings
    )


def _warm_start_trials(config: ExperimentConfig, space: SearchSpace) -> list[Any]:
    """Finished trials of the experiments named in ``search.warm_start`` that fit ``space``."""
    from raytune_hp.search import PastTrial

    past_trials = []
    for folder in config.search.warm_start:
        path = Path(folder).expanduser().resolve()
        if not is_experiment(path):
            raise ConfigError(
                f"search.warm_start must name earlier experiment folders; got {folder!r} "
                f"(no {CONFIG_FILE} and Ray experiment state in {path})"
            )
        earlier = load_config(path / CONFIG_FILE)
        if earlier.train.metric != config.train.metric:
            raise ConfigError(
                f"search.warm_start must name experiments that optimized {config.train.metric}; "
                f"got {folder!r}, which optimized {earlier.train.metric}"
            )
        for trial in load_trials(path, earlier):
            if trial.best is not None and contains(space, trial.hparams):
                past_trials.append(PastTrial(trial.hparams, trial.best))
    return past_trials


def _progress_reporter(config: ExperimentConfig, space: SearchSpace) -> Any:
    """Ray Tune's table of trials (``--progress-table``), with the hyperparameters every trial
    has: at the end Ray looks each column up in the best trial's config, and one that exists
    only under some values of its parent (warmup_steps, under two schedules) fails the whole
    run with a KeyError where the best trial lacks it."""
    from ray.tune import CLIReporter

    return CLIReporter(
        metric_columns=[EPOCH, *_reported_metrics(config)[::-1]],
        parameter_columns=_shared_hparams(space),
        metric=config.train.metric,
        mode=config.train.mode,
        sort_by_metric=True,
        max_progress_rows=12,
        max_report_frequency=15,
    )


def _shared_hparams(space: SearchSpace) -> list[str]:
    """The tuned hyperparameters every configuration of ``space`` has: those not conditional
    on another, and those whose parent can take only values they exist under (the learning
    rate: under every optimizer).

    Example:
        >>> from raytune_hp.spaces import resolve_space
        >>> space = resolve_space("cnn", {"include": ["schedule"], "num_layers": 1})
        >>> [name for name in space.tuned if name not in _shared_hparams(space)]
        ['warmup_steps', 'power', 'end_lr']
    """

    def always(dim: Dimension) -> bool:
        if dim.when is None:
            return True
        parent, values = dim.when
        if parent not in space:
            return False
        parent_dim = space[parent]
        return always(parent_dim) and all(v in values for v in parent_dim.choices_or_range())

    return [dim.name for dim in space.dims if not dim.fixed and always(dim)]


def _trial_dirname(trial: Any, tuned: tuple[str, ...]) -> str:
    """The trial's folder, which TensorBoard shows as its run's name: its number (the count
    Ray's experiment tag starts with: the order the searcher proposed it in), then what sets it
    apart."""
    number = int(str(trial.experiment_tag).partition("_")[0] or 0)
    return run_name(number, flatten(trial.config), tuned)
