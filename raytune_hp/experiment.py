"""Running an experiment: Ray up, Tuner built from the config, results into the experiment folder.

The folder (``<storage>/<name>/``) holds ``config.yaml`` (the config as run), Ray Tune's trial
folders with their TensorBoard events, ``summary.md`` and ``best_config.yaml``. An existing
experiment is resumed (``resume=True``) or refused, never overwritten.

Example:
    >>> from raytune_hp.config import load_config
    >>> outcome = run_experiment(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
    >>> outcome.best_metric  # doctest: +SKIP
    0.9861
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ExperimentExistsError
from raytune_hp.report import CONFIG_FILE, TrialRecord, write_reports

_STATE_GLOB = "experiment_state-*.json"


@dataclass(frozen=True)
class Outcome:
    """What a finished experiment tells the user."""

    exp_dir: Path
    trials: list[TrialRecord]
    metric: str

    @property
    def best(self) -> TrialRecord | None:
        return self.trials[0] if self.trials and self.trials[0].best is not None else None

    @property
    def best_metric(self) -> float | None:
        return self.best.best if self.best else None


def experiment_dir(config: ExperimentConfig) -> Path:
    """``<storage>/<name>`` as an absolute path (Ray needs one for local storage)."""
    return (Path(config.storage).expanduser() / config.name).resolve()


def is_experiment(path: Path) -> bool:
    """Whether ``path`` holds a raytune-hp experiment (its config and Ray's experiment state)."""
    return (path / CONFIG_FILE).is_file() and any(path.glob(_STATE_GLOB))


def run_experiment(
    config: ExperimentConfig, resume: bool = False, address: str | None = None
) -> Outcome:
    """Runs (or resumes) the experiment ``config`` describes and writes its reports.

    Raises:
        ExperimentExistsError: the folder exists and ``resume`` is false, or ``resume`` is true
            and the folder holds no experiment.
    """
    exp_dir = experiment_dir(config)
    if resume:
        if not is_experiment(exp_dir):
            found = "a folder without them" if exp_dir.exists() else "no such folder"
            raise ExperimentExistsError(
                f"--resume: {exp_dir} must hold an earlier experiment (its {CONFIG_FILE} and Ray's "
                f"experiment state); got {found}"
            )
        config = load_config(exp_dir / CONFIG_FILE)
    elif exp_dir.exists():
        raise ExperimentExistsError(
            f"{exp_dir} must not exist yet for a new experiment; got an existing folder "
            "(pass --resume to continue it, or --name to start another)"
        )

    import ray

    # Ray's automatic CSV/JSON/TensorBoard loggers: trials write their own TensorBoard events,
    # and the JSON/CSV ones are added back explicitly below.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    # Ray's classic progress table shows every tuned hyperparameter beside the metrics; the
    # newer output prints a result box per finished trial instead.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    # A checkpoint every epoch is what ASHA and resume need; Ray warns about the state
    # snapshots that follow it, which cost milliseconds on this scale.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if not ray.is_initialized():
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            configure_logging=True,
        )
    tuner = _build_tuner(config, exp_dir, resume)
    if not resume:
        exp_dir.mkdir(parents=True, exist_ok=True)
        (exp_dir / CONFIG_FILE).write_text(config.to_yaml())
        from raytune_hp.tb_logger import write_experiment_summary

        write_experiment_summary(exp_dir, config.search_space())
    print(f"Experiment folder: {exp_dir}\nTensorBoard:       tensorboard --logdir {exp_dir}\n")
    tuner.fit()
    trials = write_reports(exp_dir, config)
    return Outcome(exp_dir, trials, config.train.metric)


def trial_slots(config: ExperimentConfig, gpus_per_trial: float) -> int:
    """How many trials the cluster runs at once, from what Ray reports."""
    import ray

    resources = ray.cluster_resources()
    slots = int(resources.get("CPU", 1) // config.resources.cpus_per_trial)
    if gpus_per_trial > 0:
        slots = min(slots, int(resources.get("GPU", 0) // gpus_per_trial))
    return max(1, slots)


def _gpus_per_trial(config: ExperimentConfig) -> float:
    if config.resources.gpus_per_trial is not None:
        return config.resources.gpus_per_trial
    import ray

    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def _build_tuner(config: ExperimentConfig, exp_dir: Path, resume: bool) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from raytune_hp.data import load_data
    from raytune_hp.early_stopping import build_early_stopping
    from raytune_hp.search import build_searcher
    from raytune_hp.trainable import TrialSettings, tune_trainable

    gpus = _gpus_per_trial(config)
    data = load_data(config.data.name, config.data.val_fraction, config.seed)
    settings = TrialSettings(config.model.name, config.train.max_epochs, config.seed)
    trainable = tune.with_parameters(
        tune.with_resources(tune_trainable, {"cpu": config.resources.cpus_per_trial, "gpu": gpus}),
        data=data,
        settings=settings,
    )
    if resume:
        return tune.Tuner.restore(
            str(exp_dir), trainable, resume_unfinished=True, resume_errored=True
        )
    slots = config.search.max_concurrent or trial_slots(config, gpus)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=build_searcher(config, slots),
            scheduler=build_early_stopping(config),
            num_samples=config.search.num_samples,
            reuse_actors=True,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=config.name,
            storage_path=str(exp_dir.parent),
            callbacks=[JsonLoggerCallback(), CSVLoggerCallback()],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            sync_config=tune.SyncConfig(sync_artifacts=True),
            progress_reporter=_progress_reporter(config),
            verbose=1,
        ),
    )


def _progress_reporter(config: ExperimentConfig) -> Any:
    from ray.tune import CLIReporter

    from raytune_hp.metrics import EPOCH, TRAIN_LOSS, VAL_ACC, VAL_LOSS

    return CLIReporter(
        metric_columns=[EPOCH, TRAIN_LOSS, VAL_LOSS, VAL_ACC],
        parameter_columns=list(config.search_space().tuned),
        metric=config.train.metric,
        mode=config.train.mode,
        sort_by_metric=True,
        max_progress_rows=12,
        max_report_frequency=15,
    )


def _trial_dirname(trial: Any) -> str:
    # Short, stable names: TensorBoard shows them as run names.
    return f"{trial.trial_id}"
