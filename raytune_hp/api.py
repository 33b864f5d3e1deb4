"""The Python API: :func:`tune` runs an experiment described by a mapping, a YAML file or a config
object, with the user's own code handed over as Python objects: a training function, a model
builder, a loss, and the data (tensors, arrays, a pair of datasets, or a function that loads
them). Functions from a notebook or ``__main__`` work: they reach Ray's workers by value.

A config built in Python passes exactly the checks a YAML file passes, with the same one-line
messages (:class:`~raytune_hp.errors.ConfigError`). The call leaves the process as it found it
(environment, Ray session) and prints only with ``verbose=True``.

Example:
    >>> import raytune_hp
    >>> result = raytune_hp.tune(  # doctest: +SKIP
    ...     {"name": "moons", "search": {"num_samples": 8}, "train": {"max_epochs": 5}},
    ...     model=build, data=(x_train, y_train, x_val, y_val))
    >>> result.best.hparams, result.dataframe().head()  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.config.loading import validate_config
from raytune_hp.config.yaml_reader import read_yaml
from raytune_hp.errors import ConfigError
from raytune_hp.results import ExperimentResult
from raytune_hp.user_code import record

Experiment = ExperimentConfig | Mapping[str, Any] | str | os.PathLike[str]


def tune(
    experiment: Experiment,
    *,
    train: Callable[..., Any] | None = None,
    model: Callable[..., Any] | None = None,
    data: Any = None,
    loss: Callable[..., Any] | None = None,
    resume: bool = False,
    address: str | None = None,
    verbose: bool = False,
    trust_folder: bool = False,
) -> ExperimentResult:
    """Runs (or, with ``resume``, continues) a tuning experiment and returns its result.

    Args:
        experiment: the config: a mapping with the keys of a YAML config (``name`` required),
            the path of a YAML file, or an :class:`~raytune_hp.config.ExperimentConfig`.
        train: a whole training function, ``train(hp, data, report, *, max_epochs, state)``
            (as ``train.function`` in a config): it builds its own model, trains it, and calls
            ``report(metrics, state)`` once an epoch with ``epoch`` and the searched metric.
        model: a model builder, ``model(hp, input_shape, num_outputs) -> nn.Module``, for the
            built-in training loop (as ``model.builder``).
        data: the data: ``(x_train, y_train, x_val, y_val)`` tensors or arrays, a pair
            ``(train, val)`` of ``torch.utils.data.Dataset``, or a loader function
            ``(val_fraction, seed) -> data`` (as ``data.loader``).
        loss: the built-in loop's loss, ``loss(outputs, targets) -> scalar`` (as ``train.loss``).
        resume: continue the experiment in ``<storage>/<name>`` as it was configured; a
            ``search.num_samples`` in ``experiment`` larger than its own grows it, and so does
            a larger ``search.budget``. Its code must be handed over again the same way.
        address: attach to a running Ray cluster (``auto``); by default a local Ray session is
            started and shut down again.
        verbose: print one progress line (trials done, the best so far, the time left) and
            where the results go.
        trust_folder: with ``resume``, resume a folder whose pickled Ray state this user's
            runs did not sign (copied from another machine or user): its pickles are code that
            resuming runs. See the README's Security section.

    SIGTERM or SIGHUP stops the run as Ctrl-C does (trials' state saved, the summary written;
    ``resume=True`` continues it), and then reaches what handles it in the calling process: by
    default that ends the process (exit 143 or 129), only once the experiment is safe.

    Returns:
        The experiment's result: every trial, the best one, its config, a DataFrame.

    Raises:
        ConfigError: bad input, in one line (a config key, or code given twice).
        ExperimentExistsError: the experiment exists and ``resume`` is false (or the reverse).
        UntrustedFolderError: on ``resume``, the folder holds pickles this user's runs did not
            sign, and ``trust_folder`` is false.
    """
    given = {
        "train.function": train,
        "model.builder": model,
        "data.loader": data,
        "train.loss": loss,
    }
    raw, source, folder = _raw(experiment)
    for key, obj in given.items():
        if obj is not None:
            _hand_over(raw, key, obj, source)
    config = validate_config(raw, source, folder or Path.cwd())

    from raytune_hp.experiment import run_experiment
    from raytune_hp.signals import Stopped, pass_on

    search = raw.get("search")
    asked = isinstance(search, dict) and "num_samples" in search
    asked_budget = isinstance(search, dict) and search.get("budget") is not None
    try:
        result = run_experiment(
            config,
            resume=resume,
            address=address,
            given={key: obj for key, obj in given.items() if obj is not None},
            verbose=verbose,
            num_samples=config.search.num_samples if resume and asked else None,
            budget=config.search.budget if resume and asked_budget else None,
            trust_folder=trust_folder,
        )
    except Stopped as stopped:
        pass_on(stopped.signal_number)
        raise
    # Stopped cleanly, the signal takes its course: by default it ends the process.
    pass_on(result.stop_signal)
    return result


def _raw(experiment: Experiment) -> tuple[dict[str, Any], str, Path | None]:
    """The experiment as a mutable mapping, what to call it in messages, and (for a file) the
    folder a relative ``data.path`` is relative to."""
    if isinstance(experiment, ExperimentConfig):
        return experiment.model_dump(mode="json"), "experiment", None
    if isinstance(experiment, Mapping):
        return copy.deepcopy(dict(experiment)), "experiment", None
    path = Path(experiment)
    raw = read_yaml(path)
    raw.setdefault("name", path.stem)
    return raw, str(path), path.parent


def _hand_over(raw: dict[str, Any], key: str, obj: Any, source: str) -> None:
    """Records in ``raw`` that the code at ``key`` (``train.function``, ...) is a Python object,
    making the model or the data the user's own where that is what the object is.

    Raises:
        ConfigError: the config already names code or built-in data there.
    """
    section, field = key.split(".")
    part = raw.get(section)
    if part is None:
        part = raw[section] = {}
    if not isinstance(part, dict):
        return  # the schema refuses it, with the config's own message
    named = part.get(field)
    if named is not None:
        raise ConfigError(
            f"{source}: {key} must be given once, in the config or as a Python object to "
            f"raytune_hp.tune(); got both {named!r} and {record(obj)}"
        )
    if section == "data" and part.get("name", "custom") != "custom":
        raise ConfigError(
            f"{source}: data.name must be left out (or custom) when the data is handed to "
            f"raytune_hp.tune(); got {part['name']!r}"
        )
    part[field] = record(obj)
    if section in ("data", "model") and "name" not in part:
        part["name"] = "custom"
