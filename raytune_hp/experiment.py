"""Running an experiment: Ray up, Tuner built from the config, results into the experiment folder.

The folder (``<storage>/<name>/``) holds ``config.yaml`` (the config as run), Ray Tune's trial
folders with their TensorBoard events (under ``coarse/`` and ``fine/`` for coarse-to-fine, with
the narrowed ``fine_space.yaml`` beside them), ``summary.md`` and ``best_config.yaml``. An existing
experiment is resumed (``resume=True``) or refused, never overwritten.

Example:
    >>> from raytune_hp.config import load_config
    >>> result = run_experiment(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
    >>> result.best_metric  # doctest: +SKIP
    0.9861
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.checks import capacity_limit
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.early_stopping import build_early_stopping
from raytune_hp.errors import ConfigError, ExperimentExistsError
from raytune_hp.report import TrialRecord, load_trials, write_reports
from raytune_hp.spaces import SearchSpace, contains, grid
from raytune_hp.storage import CONFIG_FILE, FINE_SPACE_FILE, PHASES, ExperimentStore, is_experiment
from raytune_hp.user_code import UserCode


@dataclass(frozen=True)
class ExperimentResult:
    """A finished (or interrupted) experiment: where it is and its trials, best first.

    ``location`` is a path or a URI.
    """

    location: str
    trials: list[TrialRecord]
    metric: str
    interrupted: bool = False

    @property
    def exp_dir(self) -> Path:
        """The experiment folder, for local storage."""
        return Path(self.location)

    @property
    def best(self) -> TrialRecord | None:
        return self.trials[0] if self.trials and self.trials[0].best is not None else None

    @property
    def best_metric(self) -> float | None:
        return self.best.best if self.best else None


def experiment_store(config: ExperimentConfig) -> ExperimentStore:
    """``<storage>/<name>``: an absolute path (Ray needs one for local storage) or a URI."""
    return ExperimentStore.of(config.storage, config.name)


def run_experiment(
    config: ExperimentConfig, resume: bool = False, address: str | None = None
) -> ExperimentResult:
    """Runs (or resumes) the experiment ``config`` describes and writes its reports.

    Raises:
        ExperimentExistsError: the folder exists and ``resume`` is false, or ``resume`` is true
            and the folder holds no experiment.
        ConfigError: an import path or a warm-start experiment that does not resolve.
    """
    store = experiment_store(config)
    where = store.location
    if resume:
        if not is_experiment(store):
            found = "a folder without them" if store.exists() else "no such folder"
            raise ExperimentExistsError(
                f"--resume: {where} must hold an earlier experiment (its {CONFIG_FILE} and Ray's "
                f"experiment state); got {found}"
            )
        config = load_config(f"{where}/{CONFIG_FILE}", text=store.read_text(CONFIG_FILE))
    elif store.exists():
        raise ExperimentExistsError(
            f"{where} must not exist yet for a new experiment; got an existing folder "
            "(pass --resume to continue it, or --name to start another)"
        )
    space = config.search_space()
    past_trials = _warm_start_trials(config, space)

    import ray

    # Ray's automatic CSV/JSON/TensorBoard loggers: trials write their own TensorBoard events,
    # and the JSON/CSV ones are added back explicitly below.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Ray's classic progress table shows every tuned hyperparameter beside the metrics; the
    # newer output prints a result box per finished trial instead.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # A checkpoint every epoch is what resume needs. With num_to_keep=2 Tune then snapshots the
    # experiment state every other checkpoint of any trial and warns about it; the snapshot
    # grows with the trials (benchmarks/results/scale.md: 13 -> 29 ms of driver CPU per result
    # over 160 trials), which matters for hundreds of short trials, not for this warning.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    code = UserCode.of(config)  # resolved before Ray starts or anything is written
    if not ray.is_initialized():
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=True,
        )
    _check_storage_is_shared(config, store)
    runner = _PhaseRunner(config, store, _trainable(config, code), resume)
    if not resume:
        store.write_text(CONFIG_FILE, config.to_yaml())
        _write_experiment_summary(store, space)
    print(f"Experiment folder: {where}\nTensorBoard:       tensorboard --logdir {where}\n")
    try:
        if config.search.strategy == "coarse-to-fine":
            _coarse_to_fine(runner, config, space)
        else:
            runner.run(None, space, config.search.strategy, config.search.num_samples, past_trials)
        interrupted = False
    except _Interrupted:
        interrupted = True
    print("Writing summary.md, best_config.yaml and plots…")
    trials = write_reports(store, config)
    return ExperimentResult(where, trials, config.train.metric, interrupted)


class _Interrupted(Exception):
    """A phase stopped before all its trials finished (Ctrl-C): later phases must not start."""


_UNFINISHED = ("RUNNING", "PENDING", "PAUSED")


def _check_storage_is_shared(config: ExperimentConfig, store: ExperimentStore) -> None:
    """Since Ray 2.7 the head no longer gathers trial folders: on more than one node every node
    must write to one shared place (ray-project/ray #37177)."""
    import ray

    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    if nodes > 1 and store.is_local and not config.shared_storage:
        raise ConfigError(
            f"storage must be shared by all {nodes} nodes of the cluster (s3://..., gs://..., or "
            "an NFS folder with shared_storage: true); got the local folder "
            f"{config.storage!r}"
        )


def _write_experiment_summary(store: ExperimentStore, space: SearchSpace) -> None:
    from raytune_hp.tb_logger import write_experiment_summary

    if store.is_local:
        write_experiment_summary(store.location, space)
        return
    with tempfile.TemporaryDirectory() as folder:
        write_experiment_summary(folder, space)
        store.upload(folder)


def _coarse_to_fine(runner: _PhaseRunner, config: ExperimentConfig, space: SearchSpace) -> None:
    """Random search over the whole space, then TPE over the space around its best trials."""
    coarse, fine = PHASES
    coarse_samples = max(1, round(config.search.num_samples * config.search.coarse_fraction))
    fine_samples = max(1, config.search.num_samples - coarse_samples)
    from raytune_hp.search import PastTrial, narrowed_space

    trials = [t for t in runner.run(coarse, space, "random", coarse_samples) if t.best is not None]
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
    runner.run(fine, fine_space, "bayes", fine_samples, past_trials, start_points=[])


class _PhaseRunner:
    """Builds and runs one Tuner per phase inside the experiment folder."""

    def __init__(
        self, config: ExperimentConfig, store: ExperimentStore, trainable: Any, resume: bool
    ) -> None:
        self.config, self.store, self.trainable, self.resume = config, store, trainable, resume

    def run(
        self,
        phase: str | None,
        space: SearchSpace,
        strategy: str,
        num_samples: int,
        past_trials: list[Any] | None = None,
        start_points: list[dict[str, Any]] | None = None,
    ) -> list[TrialRecord]:
        """Runs (or resumes) one phase and returns its trials.

        Raises:
            _Interrupted: the phase stopped before every trial ended.
        """
        from ray import tune

        from raytune_hp.search import build_search

        target = self.store.child(phase) if phase else self.store
        if phase:
            storage, name = self.store.location, phase
        else:
            storage = self.config.storage
            if self.store.is_local:
                storage = str(Path(storage).expanduser().resolve())
            name = self.config.name
        if self.resume and is_experiment(target, own_config=False):
            tune.Tuner.restore(
                target.path,
                self.trainable,
                resume_unfinished=True,
                resume_errored=True,
                storage_filesystem=target.fs,
            ).fit()
            return self._finished_trials(target, num_samples, strategy, space)
        if phase and target.exists():
            return load_trials(target, self.config)  # a finished phase of a resumed experiment
        slots = self.config.search.max_concurrent or trial_slots(self.config, _gpus(self.config))
        plan = build_search(
            self.config, space, slots, strategy, num_samples, past_trials or (), start_points
        )
        tune.Tuner(
            self.trainable,
            tune_config=tune.TuneConfig(
                search_alg=plan.searcher,
                scheduler=build_early_stopping(self.config, target),
                num_samples=plan.num_samples,
                reuse_actors=True,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=_run_config(self.config, storage, name, space),
        ).fit()
        return self._finished_trials(target, plan.num_samples, strategy, space)

    def _finished_trials(
        self, target: ExperimentStore, num_samples: int, strategy: str, space: SearchSpace
    ) -> list[TrialRecord]:
        """The phase's trials; raises :class:`_Interrupted` unless every one ended (Ray returns
        early, state saved, when the run is interrupted)."""
        trials = load_trials(target, self.config)
        expected = len(grid(space, self.config.search.grid_points)) if strategy == "grid" else None
        if any(t.status in _UNFINISHED for t in trials) or len(trials) < (expected or num_samples):
            raise _Interrupted
        return trials


def _run_config(config: ExperimentConfig, storage: str, name: str, space: SearchSpace) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    return tune.RunConfig(
        name=name,
        storage_path=storage,
        callbacks=[JsonLoggerCallback(), CSVLoggerCallback()],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        failure_config=tune.FailureConfig(max_failures=config.train.retries),
        sync_config=tune.SyncConfig(sync_artifacts=True),
        progress_reporter=_progress_reporter(config, space),
        verbose=1,
    )


def trial_slots(config: ExperimentConfig, gpus_per_trial: float) -> int:
    """How many trials the cluster runs at once, from what Ray reports."""
    import ray

    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 1) // config.resources.cpus_per_trial)
    if gpus_per_trial > 0:
        slots = min(slots, int(resources.get("GPU", 0) // gpus_per_trial))
    return max(1, slots)


def _gpus(config: ExperimentConfig) -> float:
    if config.resources.gpus_per_trial is not None:
        return config.resources.gpus_per_trial
    import ray

    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def _trainable(config: ExperimentConfig, code: UserCode) -> Any:
    """The function trainable, its resources, and the data: loaded once and handed to every
    trial through Ray's object store. Unless the config allows it, a configuration whose model
    has more parameters than half the training samples is skipped before training."""
    from ray import tune

    from raytune_hp.trainable import TrialSettings, tune_trainable

    data = code.dataset(config)
    settings = TrialSettings(
        config.model.name,
        config.train.max_epochs,
        config.seed,
        builder=code.builder,
        function=code.function,
        max_params=None if config.train.allow_oversized else capacity_limit(len(data.x_train)),
    )
    resources = {"cpu": config.resources.cpus_per_trial, "gpu": _gpus(config)}
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
    from ray.tune import CLIReporter

    from raytune_hp.metrics import EPOCH, TRAIN_LOSS, VAL_ACC, VAL_LOSS

    return CLIReporter(
        metric_columns=[EPOCH, TRAIN_LOSS, VAL_LOSS, VAL_ACC],
        parameter_columns=list(space.tuned),
        metric=config.train.metric,
        mode=config.train.mode,
        sort_by_metric=True,
        max_progress_rows=12,
        max_report_frequency=15,
    )


def _trial_dirname(trial: Any) -> str:
    # Short, stable names: TensorBoard shows them as run names.
    return f"{trial.trial_id}"
