"""The shape of an experiment config: its sections, their defaults and the rules they check.

Each section is a frozen pydantic model that refuses unknown keys and values of the wrong type
(no coercion: ``'4'`` is not an integer); rules that span fields (the grace period within the
epoch budget, the data a model reads) are checked by :class:`ExperimentConfig` itself. The
search space is resolved from the recommendation tables on demand (:meth:`search_space`).

Example:
    >>> config = ExperimentConfig(name="demo", search=SearchConfig(num_samples=4))
    >>> config.search.strategy, config.search.num_samples, config.train.mode
    ('bayes', 4, 'max')
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from raytune_hp.config.budget import BudgetConfig
from raytune_hp.config.timeout import TrialTimeout
from raytune_hp.errors import preview
from raytune_hp.metrics import MODES, TASK_METRICS, Mode, Task
from raytune_hp.models import CUSTOM, MODELS
from raytune_hp.spaces import (
    BAYES_DEFAULTS,
    DEFAULT_CUSTOM_TABLES,
    TABLES,
    SearchSpace,
    resolve_space,
)
from raytune_hp.values import is_int, is_number

IMPORT_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
PYTHON_OBJECT = r"^<python: [^<>]+>$"
"""How a config records code handed to :func:`raytune_hp.tune` as a Python object, which no
import path names (``<python: __main__.train>``): it must be handed over again to resume."""
CODE = f"{IMPORT_PATH}|{PYTHON_OBJECT}"
"""A user's code: an import path, or the record of a Python object."""
METRIC_NAME = r"^[A-Za-z_][\w./-]*$"
TABLE_NAMES = tuple(TABLES)
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
STORAGE_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs", "file")
"""The URI schemes of ``storage`` (pyarrow's filesystems, which Ray Tune and the reports use)."""
MAX_SEED = 2**32 - 1
"""The largest seed: numpy's, scikit-learn's and the searchers' generators take 32 bits."""
MAX_CLASSES = 100_000
"""The most classes a classification may have (``data.num_classes``, or the largest label + 1)."""
NPZ_ARRAYS = ("x_train", "y_train", "x_val", "y_val")
"""The arrays a ``data: {name: npz}`` file holds (``numpy.savez(path, x_train=..., ...)``)."""


def _custom_name(data: Any, key: str) -> Any:
    """``{builder: ...}`` alone means ``name: custom``."""
    if isinstance(data, dict) and data.get(key) is not None and "name" not in data:
        return {**data, "name": "custom"}
    return data


def _check_custom(name: str, path: str | None, section: str, key: str) -> None:
    if path is not None and name != "custom":
        raise ValueError(
            f"{section}.{key} must be given exactly when {section}.name is custom; "
            f"got name {preview(name)} with {key} {preview(path)}"
        )


def is_python_object(code: str | None) -> bool:
    """Whether ``code`` records a Python object handed to :func:`raytune_hp.tune` (not an
    import path)."""
    return code is not None and code.startswith("<python: ")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


MODEL_NAMES = (*MODELS, CUSTOM)
SEQUENCE_MODELS = tuple(name for name, spec in MODELS.items() if spec.inputs == "sequences")


class DataConfig(_Section):
    """Which data set, and how much of it is held out for validation.

    ``loader`` names your own loader (``package.module:function``) instead of a built-in set.
    ``name: npz`` reads ``path``, an ``.npz`` file with the arrays ``x_train``, ``y_train``,
    ``x_val`` and ``y_val`` (x numbers, y integer class indices); a relative path is relative to
    the config file's folder. Its own ``x_val``/``y_val`` are the validation set, so
    ``val_fraction`` does not apply to it. ``num_workers``: the processes that load batches of
    data that each trial iterates (``torch.utils.data.Dataset`` pairs); 0 loads in the trial.
    ``num_classes``: how many classes your own data (a loader, an npz file) has for a
    classification; by default the largest label + 1,
    which must then not exceed the training samples (a larger one is almost surely a stray
    label). Every label must be below it.
    """

    name: Literal["digits", "digits_sequences", "npz", "custom"] = "digits"
    loader: str | None = Field(None, pattern=CODE)
    path: str | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1)
    num_workers: int = Field(0, ge=0)
    num_classes: int | None = Field(None, ge=2, le=MAX_CLASSES)

    @model_validator(mode="before")
    @classmethod
    def _custom_when_loader(cls, data: Any) -> Any:
        return _custom_name(data, "loader")

    @model_validator(mode="after")
    def _loader_with_custom(self) -> DataConfig:
        _check_custom(self.name, self.loader, "data", "loader")
        if self.name == "custom" and self.loader is None:
            raise ValueError(
                "data.loader must be given when data.name is custom (your own loader, "
                "package.module:function, or data handed to raytune_hp.tune); got none"
            )
        if self.num_classes is not None and self.name not in ("npz", "custom"):
            raise ValueError(
                f"data.num_classes must be left out for data.name {self.name} (its 10 digit "
                f"classes are known); got {self.num_classes}"
            )
        if (self.name == "npz") != (self.path is not None):
            raise ValueError(
                "data.path must be given exactly when data.name is npz; "
                f"got name {preview(self.name)} with path {preview(self.path)}"
            )
        return self


class ModelConfig(_Section):
    """Which model family; its hyperparameters come from the tables (``space``).

    ``builder`` names your own model builder (``package.module:function``); ``tables`` says
    which recommendation tables its space draws from. A ``custom`` model without a builder is
    one that ``train.function`` builds itself.
    """

    name: Literal[MODEL_NAMES] = "cnn"  # type: ignore[valid-type]
    builder: str | None = Field(None, pattern=CODE)
    tables: list[Literal[TABLE_NAMES]] | None = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _custom_when_builder(cls, data: Any) -> Any:
        return _custom_name(data, "builder")

    @model_validator(mode="after")
    def _builder_with_custom(self) -> ModelConfig:
        _check_custom(self.name, self.builder, "model", "builder")
        if self.tables is not None and self.name != "custom":
            raise ValueError(
                "model.tables must be left out for a built-in model (its tables are fixed: "
                f"`raytune-hp spaces`); got {self.tables} for {self.name}"
            )
        return self


class TrainConfig(_Section):
    """The per-trial training budget, the task, and the metric the search optimizes.

    ``task``: the built-in loop trains ``classification`` (cross-entropy; reports val_acc and
    val_loss) or ``regression`` (mean squared error; reports val_rmse, val_mae and val_loss).
    ``metric``: what the search optimizes; by default the task's first (val_acc, val_rmse). A
    training function of your own may report any metric: name it here with ``mode`` (``max``
    when higher is better, ``min`` when lower is); the metrics the loop knows have their mode.
    ``function`` names your own whole training function (``package.module:function``), called as
    ``function(hp, data, report, *, max_epochs, state)``; it must report ``epoch`` and the metric
    every epoch. ``loss`` names your own loss, ``loss(outputs, targets)``, for the built-in loop.
    ``retries``: how often a failed trial (an error, a lost node) restarts from its checkpoint.
    ``capacity``: a model with more trainable parameters than half the training samples breaks
    the capacity rule; ``warn`` (the default) says so at the start and marks such trials in the
    summary, ``skip`` records them as skipped before they train.
    ``precision``: ``bf16`` runs the built-in loop's forward passes under bfloat16 autocast
    (weights and optimizer stay float32); ``fp32`` is plain float32.
    ``trial_timeout``: a trial that takes longer (a duration: ``10 min``), or an epoch of it
    (``{epoch: 60 s, trial: 1 h}``), is ended and recorded as timed out; none by default
    (:mod:`raytune_hp.config.timeout`).
    """

    max_epochs: int = Field(20, ge=1)
    task: Task = "classification"
    metric: str = Field(pattern=METRIC_NAME)
    mode: Mode
    function: str | None = Field(None, pattern=CODE)
    loss: str | None = Field(None, pattern=CODE)
    retries: int = Field(2, ge=0)
    capacity: Literal["warn", "skip"] = "warn"
    precision: Literal["fp32", "bf16"] = "fp32"
    trial_timeout: TrialTimeout | None = None

    @model_validator(mode="before")
    @classmethod
    def _metric_and_mode(cls, data: Any) -> Any:
        """The task's metric when none is named; the mode of a metric the loop knows; and
        ``allow_oversized`` of configs written before ``capacity`` as the capacity it meant."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("allow_oversized"), bool) and "capacity" not in data:
            # The key before `capacity` existed: experiment folders written then still resume.
            data["capacity"] = "warn" if data.pop("allow_oversized") else "skip"
        task = data.get("task", "classification")
        if not isinstance(task, str) or task not in TASK_METRICS:
            return data  # the schema refuses it, naming the tasks
        if "metric" not in data:
            data["metric"] = TASK_METRICS[task][0]
        metric = data["metric"]
        if not isinstance(metric, str):
            return data
        if metric in MODES:
            known = MODES[metric]
            if data.setdefault("mode", known) != known:
                raise ValueError(
                    f"train.mode must be {known} for {metric} (which way it is better is known); "
                    f"got {preview(data['mode'])}"
                )
        elif data.get("function") is None:
            reported = ", ".join(repr(name) for name in TASK_METRICS[task])
            raise ValueError(
                f"train.metric must be one of {reported} (what the built-in loop reports for "
                f"{task}), or a metric your own train.function reports; got {preview(metric)}"
            )
        elif "mode" not in data:
            raise ValueError(
                f"train.mode must be given (max or min: which way {metric} is better) for a "
                f"metric of your own; got none for {preview(metric)}"
            )
        return data


class SearchConfig(_Section):
    """Which strategy proposes configurations, and how many.

    ``grid`` tries every combination (``grid_points`` values per range) once and refuses more than
    4 tuned hyperparameters unless ``force_grid``. ``coarse-to-fine`` spends ``coarse_fraction``
    of ``num_samples`` on random search over the whole space, then the rest on TPE over a space
    narrowed around the ``top_k`` best. ``warm_start`` names earlier experiments whose trials
    seed TPE (``bayes``). With a ``budget`` (epochs or time: :mod:`raytune_hp.config.budget`),
    trials are proposed until it is spent and ``num_samples`` is only a cap, none unless given.
    ``prior_weight`` is how much the space's prior counts in TPE against the observations;
    ``fidelity: rungs`` lets TPE learn from every trial's score at ASHA's rungs (the highest
    rung enough trials reached), ``final`` from each trial's last result.
    """

    strategy: Literal["grid", "random", "bayes", "coarse-to-fine"] = "bayes"
    num_samples: int = Field(20, ge=1)
    budget: BudgetConfig | None = None
    max_concurrent: int | None = Field(None, ge=1)
    initial_points: int | None = Field(None, ge=1)
    grid_points: int = Field(3, ge=2)
    force_grid: bool = False
    warm_start: list[str] = []
    coarse_fraction: float = Field(0.5, gt=0, lt=1)
    top_k: int | None = Field(None, ge=1)
    prior_weight: float = Field(1.0, ge=0)
    fidelity: Literal["rungs", "final"] = "final"

    @model_serializer(mode="wrap")
    def _no_cap_unless_given(self, handler: Any) -> Any:
        """Under a budget, a ``num_samples`` left out stays out (no cap) when the config is
        written and read again (``config.yaml``), rather than becoming its default."""
        data = handler(self)
        if self.budget is not None and "num_samples" not in self.model_fields_set:
            data.pop("num_samples", None)
        return data


class EarlyStoppingConfig(_Section):
    """ASHA, or none (every trial trains for ``train.max_epochs``).

    ``auto`` sizes ASHA from the epoch budget
    (:func:`raytune_hp.early_stopping.asha_settings`): a reduction factor of 3,
    and a grace period of a ninth of ``train.max_epochs``, so that trials are compared at three
    rungs (a ninth, a third, all of the epochs) however long they train. It is the default:
    on the search-quality benchmark it lost less than a fixed grace period of 2 on every
    benchmark, for about 1.4× the epochs.
    """

    name: Literal["asha", "none"] = "asha"
    grace_period: int | Literal["auto"] = "auto"
    reduction_factor: float | Literal["auto"] = "auto"

    @field_validator("grace_period", mode="before")
    @classmethod
    def _grace_is_epochs_or_auto(cls, value: Any) -> Any:
        if value == "auto" or (is_int(value) and value >= 1):
            return value
        raise ValueError(
            f"early_stopping.grace_period must be a whole number of epochs ≥ 1 or auto; "
            f"got {value!r}"
        )

    @field_validator("reduction_factor", mode="before")
    @classmethod
    def _factor_is_above_one_or_auto(cls, value: Any) -> Any:
        if value == "auto" or (is_number(value) and value > 1):
            return value
        raise ValueError(
            f"early_stopping.reduction_factor must be a number > 1 or auto; got {value!r}"
        )


class ResourcesConfig(_Section):
    """What one trial reserves. ``gpus_per_trial`` unset: one GPU where the cluster has GPUs or
    can start nodes that have them (its autoscaler's node types), else none.

    A fraction shares one GPU: ``0.25`` runs four trials on it, each capped to a quarter of its
    memory. Above one, whole GPUs only (Ray's rule), and only for a training function of your
    own (``train.function``), which gets every GPU Ray assigns: the built-in loop trains on one.
    """

    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> ResourcesConfig:
        gpus = self.gpus_per_trial
        if gpus is not None and gpus > 1 and not float(gpus).is_integer():
            raise ValueError(
                "resources.gpus_per_trial must be a fraction of one GPU (≤ 1) or a whole number "
                f"of GPUs; got {gpus}"
            )
        return self


class ExperimentConfig(_Section):
    """A whole experiment: what to train, over which space, with which strategy.

    ``storage`` is a folder or a URI (``s3://bucket/runs``, ``gs://...``). On a cluster of more
    than one node a folder must be one every node sees (NFS): say so with ``shared_storage``.

    ``space`` holds overrides of the recommendation tables: a value fixes a hyperparameter,
    ``{low, high}`` narrows a range, a list restricts a choice.
    """

    name: str = Field(pattern=_NAME_PATTERN)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    storage: str = "runs"
    shared_storage: bool = False
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig.model_validate({})
    space: dict[str, Any] = {}
    search: SearchConfig = SearchConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    resources: ResourcesConfig = ResourcesConfig()

    @model_validator(mode="before")
    @classmethod
    def _function_builds_its_own_model(cls, data: Any) -> Any:
        """With ``train.function`` and no model named, the function builds the model itself: the
        space is the config's own (``model.tables``, by default optimization and
        regularization), not the CNN's."""
        if not isinstance(data, dict):
            return data
        train, model = data.get("train"), data.get("model", {})
        function = train.get("function") if isinstance(train, dict) else None
        builds = function is not None and isinstance(model, dict)
        if builds and "name" not in model and model.get("builder") is None:
            return {**data, "model": {**model, "name": CUSTOM}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _bayes_searches_with_priors(cls, data: Any) -> Any:
        """``bayes`` searches the wide ranges under the tables' priors unless ``space`` says
        otherwise (:data:`raytune_hp.spaces.BAYES_DEFAULTS`); written into the config, so that
        the experiment folder's ``config.yaml`` resumes the space it searched."""
        if not isinstance(data, dict):
            return data
        search, space = data.get("search", {}), data.get("space", {})
        strategy = search.get("strategy", "bayes") if isinstance(search, dict) else None
        if strategy != "bayes" or not isinstance(space, dict):
            return data
        return {**data, "space": {**BAYES_DEFAULTS, **space}}

    @model_validator(mode="after")
    def _custom_model_is_built(self) -> ExperimentConfig:
        if self.model.name == CUSTOM and self.model.builder is None and self.train.function is None:
            raise ValueError(
                "model.builder must be given for a custom model, unless train.function builds "
                "the model itself; got neither"
            )
        return self

    @model_validator(mode="after")
    def _classes_for_classification(self) -> ExperimentConfig:
        if self.data.num_classes is not None and self.train.task != "classification":
            raise ValueError(
                "data.num_classes must be left out for a regression task (its outputs are the "
                f"targets' width); got {self.data.num_classes}"
            )
        return self

    @model_validator(mode="after")
    def _storage_scheme(self) -> ExperimentConfig:
        scheme, sep, _ = self.storage.partition("://")
        if (sep and scheme not in STORAGE_SCHEMES) or not self.storage.strip():
            raise ValueError(
                "storage must be a folder or a URI of "
                f"{', '.join(f'{s}://' for s in STORAGE_SCHEMES)}; got {preview(self.storage)}"
            )
        if "\0" in self.storage:  # no filesystem takes it: refused here, not by os calls
            raise ValueError(
                f"storage must be a folder or a URI without NUL bytes; got {preview(self.storage)}"
            )
        return self

    @model_validator(mode="after")
    def _grace_within_budget(self) -> ExperimentConfig:
        grace = self.early_stopping.grace_period
        if self.early_stopping.name == "asha" and grace != "auto" and grace > self.train.max_epochs:
            raise ValueError(
                "early_stopping.grace_period must be ≤ train.max_epochs "
                f"({self.train.max_epochs}); got {self.early_stopping.grace_period}"
            )
        return self

    @model_validator(mode="after")
    def _budget_pays_for_a_trial(self) -> ExperimentConfig:
        budget = self.search.budget
        if (
            budget is not None
            and budget.epochs is not None
            and budget.epochs < self.train.max_epochs
        ):
            raise ValueError(
                f"search.budget must pay for one whole trial: at least train.max_epochs "
                f"({self.train.max_epochs}) epochs; got {budget}"
            )
        return self

    @model_validator(mode="after")
    def _one_gpu_for_the_built_in_loop(self) -> ExperimentConfig:
        gpus = self.resources.gpus_per_trial
        if gpus is not None and gpus > 1 and self.train.function is None:
            raise ValueError(
                "resources.gpus_per_trial must be at most 1 for the built-in training loop (it "
                "trains on one GPU; a train.function of yours gets every GPU Ray assigns); "
                f"got {gpus:g}"
            )
        return self

    @model_validator(mode="after")
    def _data_fits_the_model(self) -> ExperimentConfig:
        sequences = self.data.name == "digits_sequences"
        if self.model.name in SEQUENCE_MODELS and self.data.name == "digits":
            raise ValueError(
                f"data.name must be digits_sequences for the {self.model.name} model (each "
                "image as 8 rows of 8 pixels); got digits"
            )
        spec = MODELS.get(self.model.name)
        if spec is not None and spec.inputs == "images" and sequences:
            raise ValueError(
                f"data.name must be digits (images) for the {spec.name} model; got "
                + repr(self.data.name)
            )
        return self

    def search_space(self, overrides: dict[str, Any] | None = None) -> SearchSpace:
        """The tables of ``model.name`` (or ``model.tables``) with ``space`` applied, or with
        ``overrides`` in its place (the fine phase of coarse-to-fine)."""
        overrides = self.space if overrides is None else overrides
        if self.model.name == "custom":
            tables = self.model.tables or list(DEFAULT_CUSTOM_TABLES)
            return resolve_space("custom", overrides, tables=tables)
        return resolve_space(self.model.name, overrides)

    def to_yaml(self) -> str:
        """The config with every default filled in, loadable again by :func:`load_config`."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
