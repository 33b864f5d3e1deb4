"""Bad input through the real command line: a corpus of malformed configs and arguments, each
answered with exit code 2 and one line on stderr (the file, the key, what must hold, what was
given), no traceback, and nothing written or changed.

Every case runs as its own ``python -m raytune_hp`` process in a fresh folder; they all start
at once (a module-scoped fixture) and the parametrized tests only read their results. The
folder's files and their bytes are compared before and after, so an existing experiment left
untouched and a tagged YAML that ran nothing are checked the same way as "no runs/ folder".
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from raytune_hp.config import load_config
from raytune_hp.errors import ConfigError

FILE = "exp.yaml"
# A module that exists in the case's folder (the command's cwd, which is importable) but lacks
# the function a config names.
MODULE = "def something_else():\n    return None\n"
TRANSFORMER = "data: {name: digits_sequences}\nmodel: {name: transformer}\n"


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    """One malformed input: the files its folder holds, the command, and what stderr says.

    ``expect[0]`` names the file and the key for a config error (``exp.yaml: seed must``).
    """

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...]
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    dirs: tuple[str, ...] = ()
    fifos: tuple[str, ...] = ()


def case(
    id: str,
    yaml: str | None,
    *expect: str,
    args: tuple[str, ...] = ("tune", FILE),
    files: Mapping[str, str | bytes] | None = None,
    dirs: tuple[str, ...] = (),
    fifos: tuple[str, ...] = (),
) -> Case:
    """A case whose config is ``yaml`` (written as exp.yaml unless None)."""
    written = dict(files or {})
    if yaml is not None:
        written[FILE] = yaml
    return Case(id, args, expect, written, dirs, fifos)


# A user's loader (data.loader: badload:<function>) for each kind of bad data: 40 training and
# 10 validation samples of 4 features, broken in one way each.
BAD_DATA = """\
import numpy as np

def _good():
    rng = np.random.default_rng(0)
    return (rng.random((40, 4)), rng.integers(0, 3, 40), rng.random((10, 4)),
            rng.integers(0, 3, 10))

def nan_features(val_fraction, seed):
    x, y, xv, yv = _good()
    x[7, 2] = x[9, 0] = np.nan
    return x, y, xv, yv

def inf_features(val_fraction, seed):
    x, y, xv, yv = _good()
    xv[4, 1] = np.inf
    return x, y, xv, yv

def stray_label(val_fraction, seed):
    x, y, xv, yv = _good()
    y[5] = 10**6
    return x, y, xv, yv

def string_labels(val_fraction, seed):
    x, y, xv, yv = _good()
    return x, np.array(["cat", "dog"] * 20), xv, yv

def fractional_labels(val_fraction, seed):
    x, y, xv, yv = _good()
    return x, y + 0.5, xv, yv

def negative_label(val_fraction, seed):
    x, y, xv, yv = _good()
    yv[3] = -1
    return x, y, xv, yv

def empty_val(val_fraction, seed):
    x, y, xv, yv = _good()
    return x, y, xv[:0], yv[:0]

def ragged_features(val_fraction, seed):
    x, y, xv, yv = _good()
    return [[1.0, 2.0]] * 39 + [[1.0]], y, xv, yv

def nan_targets(val_fraction, seed):
    x, y, xv, yv = _good()
    return x, y.astype(float), xv, np.full(10, np.nan)
"""


def bad_data(id: str, function: str, *expect: str, data: str = "", extra: str = "") -> Case:
    """A run of ``tune`` whose loader returns bad data: refused before Ray starts."""
    yaml = f"data: {{loader: 'badload:{function}'{data}}}\nmodel: {{name: mlp}}\n{extra}"
    return case(id, yaml, *expect, files={"badload.py": BAD_DATA})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nname: *a{levels - 1}\n"


EXISTING_EXPERIMENT = {
    FILE: "seed: 1\n",
    "runs/exp/config.yaml": "name: exp\nseed: 1\n",
    "runs/exp/experiment_state-x.json": '{"trials": []}\n',
}
EXISTING_BUDGET = {
    **EXISTING_EXPERIMENT,
    "runs/exp/config.yaml": "name: exp\nsearch: {budget: 400 epochs}\n",
}

CASES = [
    # --- unknown keys -------------------------------------------------------------------------
    case("unknown-top-level", "seeds: 3\n",
         "exp.yaml: seeds is not a known key", "at the top level must be one of", "(did you "
         "mean seed?)", "got 'seeds'"),
    case("unknown-nested", "train:\n  max_epoch: 5\n",
         "exp.yaml: train.max_epoch is not a known key", "did you mean max_epochs?",
         "got 'max_epoch'"),
    case("unknown-resources", "resources: {gpus: 1}\n",
         "exp.yaml: resources.gpus is not a known key", "cpus_per_trial, gpus_per_trial",
         "got 'gpus'"),
    case("unknown-in-space", "space:\n  dropuot: 0.3\n",
         "exp.yaml: space.dropuot must be one of the cnn space's hyperparameters", "a kind",
         "got 'dropuot'"),
    case("gpus-neither-fraction-nor-whole", "resources: {gpus_per_trial: 1.5}\n",
         "exp.yaml: resources.gpus_per_trial must be a fraction of one GPU (≤ 1) or a whole "
         "number of GPUs; got 1.5"),
    case("unknown-precision", "train: {precision: fp16}\n",
         "exp.yaml: train.precision must be one of", "got 'fp16'"),
    # --- wrong types ------------------------------------------------------------------------
    case("string-for-int", "search: {num_samples: many}\n",
         "exp.yaml: search.num_samples must be an integer; got 'many'"),
    case("string-for-bool", "search: {force_grid: 'yes'}\n",
         "exp.yaml: search.force_grid must be true or false; got 'yes'"),
    case("bool-for-int", "train: {max_epochs: true}\n",
         "exp.yaml: train.max_epochs must be an integer; got True"),
    case("list-for-mapping", "data: [digits]\n",
         "exp.yaml: data must be a mapping of keys to values; got ['digits']"),
    case("mapping-for-string", "name: {first: a}\n",
         "exp.yaml: name must be a string; got {'first': 'a'}"),
    case("string-for-list", "search: {warm_start: runs/old}\n",
         "exp.yaml: search.warm_start must be a list; got 'runs/old'"),
    case("string-for-number", "resources: {cpus_per_trial: two}\n",
         "exp.yaml: resources.cpus_per_trial must be a number; got 'two'"),
    case("import-path-without-colon", "model: {builder: build_model}\n",
         "exp.yaml: model.builder must be an import path, package.module:function; "
         "got 'build_model'"),
    case("storage-unknown-scheme", "storage: ftp://host/runs\n",
         "exp.yaml: storage must be a folder or a URI of s3://", "got 'ftp://host/runs'"),
    # --- impossible ranges ------------------------------------------------------------------
    case("own-log-range-from-0", "space:\n  scale: {kind: log, low: 0, high: 1}\n",
         "exp.yaml: space.scale must have numbers with 0 < low < high; got low=0, high=1"),
    case("lr-range-from-0", "space:\n  lr: {low: 0, high: 1e-3}\n",
         "exp.yaml: space.lr must be a range with 0 < low < high; got 0, 0.001"),
    case("low-above-high", "space:\n  batch_size: {low: 256, high: 64}\n",
         "exp.yaml: space.batch_size.low must be ≤ space.batch_size.high; "
         "got low=256, high=64"),
    case("own-int-low-above-high", "space:\n  width: {kind: int, low: 9, high: 2}\n",
         "exp.yaml: space.width must have numbers with low < high; got low=9, high=2"),
    case("outside-table-value", "space:\n  weight_decay: 0.01\n",
         "exp.yaml: space.weight_decay must be a number in [0, 0.0001]",
         "or add outside_table: true", "got 0.01"),
    case("outside-table-range", "space:\n  num_kernels: {low: 100, high: 900}\n",
         "exp.yaml: space.num_kernels.high must be an integer in [100, 600]", "got 900"),
    case("heads-do-not-divide-d_model",
         TRANSFORMER + "space:\n  d_model: {value: 100, outside_table: true}\n",
         "exp.yaml: space.num_heads must divide every d_model the space allows; got num_heads",
         "with d_model 100"),
    case("unknown-optional-table", "space:\n  include: [tricks, warmup]\n",
         "exp.yaml: space.include must be a list of the optional tables",
         "got ['tricks', 'warmup']"),
    case("grace-beyond-epochs", "train: {max_epochs: 4}\nearly_stopping: {grace_period: 6}\n",
         "exp.yaml: early_stopping.grace_period must be ≤ train.max_epochs (4); got 6",
         args=("check", FILE)),
    case("negative-seed", "seed: 1\n",
         "exp.yaml: seed must be ≥ 0; got -3", args=("sample", FILE, "--set", "seed=-3")),
    case("name-escapes-storage", "name: ../escape\n",
         "exp.yaml: name must be a name of letters, digits", "got '../escape'"),
    case("name-flag-escapes-storage", "seed: 1\n",
         "exp.yaml: name must be a name of letters, digits", "got '../x'",
         args=("tune", FILE, "--name", "../x")),
    # --- names that do not exist ------------------------------------------------------------
    case("unknown-strategy", "search: {strategy: hyperopt}\n",
         "exp.yaml: search.strategy must be one of 'grid', 'random', 'bayes' or "
         "'coarse-to-fine'; got 'hyperopt'"),
    case("unknown-model", "model: {name: resnet}\n",
         "exp.yaml: model.name must be one of 'cnn', 'mlp', 'rnn', 'transformer' or 'custom'; "
         "got 'resnet'", args=("spaces", "--config", FILE)),
    case("unknown-early-stopping", "early_stopping: {name: pbt}\n",
         "exp.yaml: early_stopping.name must be one of 'asha' or 'none'; got 'pbt'"),
    case("unknown-data", "data: {name: mnist}\n",
         "exp.yaml: data.name must be one of 'digits', 'digits_sequences', 'npz' or 'custom'; "
         "got 'mnist'", args=("lr-find", FILE)),
    # --- a budget that says no unit, several, or less than a trial ----------------------------
    case("budget-without-unit", "search: {budget: 400}\n",
         "exp.yaml: search.budget must be one of {epochs: 400}, {minutes: 30} or {hours: 2}",
         "got 400"),
    case("budget-unknown-unit-key", "search:\n  budget: {epoch: 400}\n",
         "exp.yaml: search.budget.epoch is not a known key", "did you mean epochs?"),
    case("budget-unknown-unit-word", "search: {budget: 30 secs}\n",
         "exp.yaml: search.budget must name its unit, one of epochs, minutes, hours",
         "got 'secs' in '30 secs'"),
    case("budget-two-units", "search:\n  budget: {epochs: 400, minutes: 30}\n",
         "exp.yaml: search.budget must name exactly one of epochs, minutes, hours",
         "got epochs and minutes"),
    case("budget-fractional-epochs", "search: {budget: 40.5 epochs}\n",
         "exp.yaml: search.budget.epochs must be an integer; got 40.5"),
    case("budget-below-one-trial", "train: {max_epochs: 18}\nsearch: {budget: 10 epochs}\n",
         "exp.yaml: search.budget must pay for one whole trial: at least train.max_epochs (18) "
         "epochs; got 10 epochs"),
    # --- a grid too large ---------------------------------------------------------------------
    case("grid-too-large", "search: {strategy: grid}\n",
         "exp.yaml: search.strategy grid must tune at most 4 hyperparameters",
         "search.force_grid: true", args=("sample", FILE)),
    # --- data files ---------------------------------------------------------------------------
    case("missing-npz", "data: {name: npz, path: missing.npz}\n",
         "exp.yaml: data.path must be an existing .npz file; got 'missing.npz' (no such file: ",
         "/missing.npz)"),
    case("npz-without-path", "data: {name: npz}\n",
         "exp.yaml: data.path must be given exactly when data.name is npz; "
         "got name 'npz' with path None"),
    case("path-without-npz", "data: {name: digits, path: digits.npz}\n",
         "exp.yaml: data.path must be given exactly when data.name is npz; "
         "got name 'digits' with path 'digits.npz'",
         files={"digits.npz": npz_bytes(x_train=np.zeros((2, 3)))}),
    case("npz-lacking-arrays", "data: {name: npz, path: digits.npz}\n",
         "exp.yaml: data.path must be an existing .npz file; got 'digits.npz' "
         "(no array y_train, x_val, y_val; it must hold x_train, y_train, x_val, y_val: ",
         files={"digits.npz": npz_bytes(x_train=np.zeros((2, 3)))}),
    case("npz-not-a-zip", "data: {name: npz, path: digits.npz}\n",
         "exp.yaml: data.path must be an existing .npz file; got 'digits.npz' "
         "(not a zip of arrays", files={"digits.npz": "x_train,y_train\n1,2\n"}),
    # --- import paths that do not resolve ------------------------------------------------------
    case("builder-module-missing", "model: {builder: 'nosuch_module_rthp:build'}\n",
         "exp.yaml: model.builder must name an importable module:function",
         "got 'nosuch_module_rthp:build', no module 'nosuch_module_rthp'"),
    case("loader-module-missing", "data: {loader: 'nosuch_module_rthp.sub:load'}\n",
         "exp.yaml: data.loader must name an importable module:function",
         "no module 'nosuch_module_rthp.sub'"),
    case("function-module-missing", "train: {function: 'nosuch_module_rthp:train'}\n",
         "exp.yaml: train.function must name an importable module:function",
         "no module 'nosuch_module_rthp'", args=("check", FILE)),
    case("builder-function-missing", "model: {builder: 'mymod:build'}\n",
         "exp.yaml: model.builder must name a function that module mymod defines; "
         "got 'mymod:build', and ", "mymod.py defines no 'build'", files={"mymod.py": MODULE}),
    case("loader-function-missing", "data: {loader: 'mymod:load'}\n",
         "exp.yaml: data.loader must name a function that module mymod defines",
         "defines no 'load'", files={"mymod.py": MODULE}),
    case("function-function-missing", "train: {function: 'mymod:train'}\n",
         "exp.yaml: train.function must name a function that module mymod defines",
         "defines no 'train'", files={"mymod.py": MODULE}, args=("batch-study", FILE)),
    case("package-init-never-runs", "data: {loader: 'planted.mod:load'}\n",
         "exp.yaml: data.loader must name a function that module planted.mod defines",
         "defines no 'load'", args=("sample", FILE),
         files={"planted/__init__.py": "open('ran.txt', 'w').close()\n",
                "planted/mod.py": "open('ran.txt', 'w').close()\n" + MODULE}),
    # --- the file itself ----------------------------------------------------------------------
    case("empty-yaml", "",
         "exp.yaml: the file must be a YAML mapping of keys to values; got an empty file"),
    case("yaml-list", "- seed\n- name\n",
         "exp.yaml: the file must be a YAML mapping of keys to values; got a list"),
    case("yaml-scalar", "just some text\n",
         "exp.yaml: the file must be a YAML mapping of keys to values; got a string"),
    case("invalid-yaml", "search: {num_samples: 4\nseed: 1\n",
         "exp.yaml: the file must be valid YAML; got ", "at line 2"),
    case("python-tag", 'seed: !!python/object/apply:os.system ["echo pwned > pwned.txt"]\n',
         "exp.yaml: seed must be plain YAML data, without tags such as !!python/",
         "not allowed", "got the tag !!python/object/apply:os.system at line 1"),
    case("python-tag-whole-file", '!!python/object/apply:os.system ["echo pwned > pwned.txt"]\n',
         "exp.yaml: the file must be plain YAML data", "got the tag !!python/object/apply"),
    case("duplicate-key", "seed: 1\nsearch: {num_samples: 4}\nseed: 2\n",
         "exp.yaml: seed must be given once; got it twice (lines 1 and 3)"),
    case("missing-config-file", None,
         "exp.yaml: the config file must be readable; got No such file or directory"),
    # --- the command line -----------------------------------------------------------------------
    case("set-without-equals", "seed: 1\n",
         "--set must be KEY=VALUE with a dotted KEY; got 'search.num_samples'",
         args=("tune", FILE, "--set", "search.num_samples")),
    case("set-unknown-key", "seed: 1\n",
         "exp.yaml: train.epochs is not a known key", "got 'epochs'",
         args=("tune", FILE, "--set", "train.epochs=3")),
    case("set-python-tag", "seed: 1\n",
         "--set seed must be plain YAML data", "got the tag !!python/object/apply:os.system",
         args=("tune", FILE, "--set", "seed=!!python/object/apply:os.system [echo pwned]")),
    case("set-invalid-yaml", "seed: 1\n",
         "--set space.optimizer must be valid YAML; got ",
         args=("sample", FILE, "--set", "space.optimizer=[adam, sgd")),
    case("set-twice", "seed: 1\n",
         "--set seed must be given once", "got --set seed=1 and --set seed=2",
         args=("tune", FILE, "--set", "seed=1", "--set", "seed=2")),
    case("set-name-and-name-flag", "seed: 1\n",
         "--set name must be given once", "got --set name=a and --name b",
         args=("tune", FILE, "--set", "name=a", "--name", "b")),
    case("resume-with-set", "seed: 1\n",
         "--set must not be given with --resume except search.num_samples=N to grow the "
         "experiment, or search.budget=B to grow its budget (it resumes as configured in its "
         "config.yaml); got --set seed=2",
         args=("tune", FILE, "--resume", "--set", "seed=2", "--set", "search.num_samples=9"),
         files=EXISTING_EXPERIMENT),
    case("resume-budget-shrinks", "seed: 1\n",
         "--resume: search.budget must be at least the experiment's 400 epochs (it grows, it "
         "never shrinks); got 300 epochs",
         args=("tune", FILE, "--resume", "--set", "search.budget=300 epochs"),
         files=EXISTING_BUDGET),
    case("resume-budget-in-other-units", "seed: 1\n",
         "--resume: search.budget must count epochs as the experiment's (400 epochs) does; got "
         "30 minutes",
         args=("tune", FILE, "--resume", "--set", "search.budget.minutes=30"),
         files=EXISTING_BUDGET),
    case("resume-budget-added", "seed: 1\n",
         "--resume: search.budget must not be given to grow an experiment run without one; got "
         "400 epochs",
         args=("tune", FILE, "--resume", "--set", "search.budget={epochs: 400}"),
         files=EXISTING_EXPERIMENT),
    case("resume-cap-on-an-uncapped-budget", "seed: 1\n",
         "--resume: search.num_samples must not be given to an experiment whose budget (400 "
         "epochs) caps no trials (grow search.budget instead); got 40",
         args=("tune", FILE, "--resume", "--set", "search.num_samples=40"),
         files=EXISTING_BUDGET),
    case("resume-of-a-non-experiment", "seed: 1\n",
         "--resume: ", "runs/exp must hold an earlier experiment", "got a folder without them",
         args=("tune", FILE, "--resume"), dirs=("runs/exp",)),
    case("existing-experiment-without-resume", None,
         "runs/exp must not exist yet for a new experiment; got an existing folder",
         "pass --resume", files=EXISTING_EXPERIMENT),
    case("spaces-table-with-config", "seed: 1\n",
         "TABLE must not be given with --config", "got cnn",
         args=("spaces", "cnn", "--config", FILE)),
    case("spaces-set-without-config", None,
         "--set must be given only with --config; got --set seed=1",
         args=("spaces", "--set", "seed=1")),
    case("sample-n-0", "seed: 1\n",
         "-n must be an integer ≥ 1; got 0", args=("sample", FILE, "-n", "0")),
    case("lr-find-steps-1", "seed: 1\n",
         "--steps must be an integer ≥ 2; got 1", args=("lr-find", FILE, "--steps", "1")),
    case("batch-sizes-not-powers-of-two", "seed: 1\n",
         "--batch-sizes must be comma-separated powers of two ≥ 1", "got '3'",
         args=("batch-study", FILE, "--batch-sizes", "3")),
    case("batch-study-target-above-1", "seed: 1\n",
         "--target must be an accuracy in (0, 1] for train.metric val_acc; got 95.0",
         args=("batch-study", FILE, "--target", "95")),
    case("unknown-flag", "seed: 1\n",
         "the arguments must be as `raytune-hp --help` shows; got unrecognized arguments: "
         "--seed 3", args=("tune", FILE, "--seed", "3")),
    case("report-of-a-non-experiment", None,
         "RUN_DIR must be an experiment folder", "got 'runs/exp'",
         args=("report", "runs/exp"), files={"runs/exp/config.yaml": "name: exp\n"}),
    case("report-of-an-unknown-uri", None,
         "RUN_DIR must be an experiment folder, or its s3://", "got 'ftp://host/runs/exp'",
         args=("report", "ftp://host/runs/exp")),
    # --- hostile config files: bounded, one line ------------------------------------------------
    case("config-is-a-directory", None,
         "exp.yaml: the config file must be a regular file; got a directory", dirs=(FILE,)),
    case("config-is-a-fifo", None,
         "exp.yaml: the config file must be a regular file; got a FIFO (named pipe)",
         fifos=(FILE,)),
    case("config-is-binary", None,
         "exp.yaml: the config file must be text in UTF-8", "got the byte 0x80 at offset 0",
         files={FILE: bytes(range(128, 256))}),
    case("config-in-latin-1", None,
         "exp.yaml: the config file must be text in UTF-8", "got the byte 0xe9 at offset 9",
         files={FILE: b"name: caf\xe9\n"}),
    case("config-of-2-mib", "#" * (2 << 20) + "\n",
         "exp.yaml: the config file must be at most 1048576 bytes (1 MiB); got 2097153 bytes"),
    case("config-nested-5000-deep", f"space: {nested(5000)}\n",
         "exp.yaml: the file must nest mappings and lists at most 50 deep; got deeper at line 1"),
    case("config-alias-bomb", alias_bomb(9),
         "exp.yaml: the file must expand to at most 2097152 values and characters"),
    case("alias-bomb-in-a-scalar-field", alias_bomb(5),
         "exp.yaml: name must be a string; got [[[[…], "),
    case("alias-cycle", "name: &a [x, *a]\n",
         "exp.yaml: the file must not refer to itself through an alias; got one at line 1"),
    case("long-value-is-previewed", "name: " + "n" * 100_000 + "/\n",
         "exp.yaml: name must be a name of letters", "got 'nnnnnnnnnn", "n'…"),
    case("seed-above-32-bits", "seed: 4294967296\n",
         "exp.yaml: seed must be ≤ 4294967295; got 4294967296", args=("check", FILE)),
    case("seed-of-5000-digits", "seed: 1" + "0" * 5000 + "\n",
         "exp.yaml: seed must be an integer Python can hold; got '1000", "at line 1"),
    case("seed-an-impossible-date", "seed: 2024-13-45\n",
         "exp.yaml: seed must be a date Python can hold; got '2024-13-45' at line 1"),
    case("outside-table-optimizer-in-the-wrong-case",
         "space:\n  optimizer: {choices: [Adam, sgd], outside_table: true}\n",
         "exp.yaml: space.optimizer must name optimizers of the lr table",
         "got 'Adam' (did you mean adam?)", args=("sample", FILE)),
    case("storage-below-a-file", "storage: notafolder/runs\n",
         "storage must be a folder this process can write into (or make); got 'notafolder/runs'",
         "notafolder is not a folder", files={"notafolder": "x\n"}),
    case("storage-name-too-long", "name: " + "n" * 300 + "\n",
         "storage must be a folder this process can write into (or make); got 'runs', where the "
         "name 'nnnnnnnnnn", "is longer than the 255 bytes a name may have"),
    case("storage-with-a-nul-byte", 'storage: "runs\\0x"\n',
         "exp.yaml: storage must be a folder or a URI without NUL bytes; got 'runs\\x00x'"),
    # --- bad data, refused before Ray starts ----------------------------------------------------
    bad_data("data-nan-features", "nan_features",
             "data.loader badload:nan_features: x_train must be finite numbers; got 2 NaN and 0 "
             "infinite values, the first in sample 7"),
    bad_data("data-inf-features", "inf_features",
             "x_val must be finite numbers; got 0 NaN and 1 infinite values, the first in "
             "sample 4"),
    bad_data("data-stray-label", "stray_label",
             "data.loader badload:stray_label: y_train must be class indices below 1000 (the "
             "number of classes, the largest label + 1,", "got the label 1000000 at index 5"),
    bad_data("data-label-above-num-classes", "stray_label",
             "y_train must be class indices below data.num_classes (3); got the label 1000000 "
             "at index 5", data=", num_classes: 3"),
    bad_data("data-string-labels", "string_labels",
             "y_train must be numbers (class indices 0, 1, …: map names to indices first",
             "got strings, such as 'cat'"),
    bad_data("data-fractional-labels", "fractional_labels",
             "y_train must be integer class indices ≥ 0",
             "float64 with 1.5 at index 0 (not a whole number)"),
    bad_data("data-negative-label", "negative_label",
             "y_val must be integer class indices ≥ 0", "the label -1 at index 3"),
    bad_data("data-empty-split", "empty_val",
             "x_val must have one row per target of y_val (0), at least one; got 0 rows"),
    bad_data("data-ragged-features", "ragged_features",
             "x_train must be numbers, every sample of one shape; got samples of different "
             "shapes"),
    bad_data("data-nan-regression-targets", "nan_targets",
             "y_val must be finite numbers; got 10 NaN and 0 infinite values, the first in "
             "sample 0", extra="train: {task: regression}\n"),
]  # fmt: skip


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder``: a file's bytes, ``None`` for a folder."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    before: dict[str, bytes | None]
    after: dict[str, bytes | None]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Runs every case at once, each in a fresh folder of its own."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

    def run(item: Case) -> Result:
        cwd = tmp_path_factory.mktemp(item.id)
        for folder in item.dirs:
            (cwd / folder).mkdir(parents=True)
        for fifo in item.fifos:
            os.mkfifo(cwd / fifo)
        for name, content in item.files.items():
            path = cwd / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        before = snapshot(cwd)
        done = subprocess.run(
            [sys.executable, "-m", "raytune_hp", *item.args],
            cwd=cwd,
            # A Ray session started by mistake would leave its folder here: "nothing written".
            env={**env, "RAY_TMPDIR": str(cwd / "ray-tmp")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Result(done.returncode, done.stdout, done.stderr, before, snapshot(cwd))

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip((c.id for c in CASES), pool.map(run, CASES), strict=True))


def test_the_corpus_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 35
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("item", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(
    results: dict[str, Result], item: Case
) -> None:
    result = results[item.id]
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("raytune-hp: "), result.stderr
    assert " must " in result.stderr and "; got " in result.stderr, result.stderr
    for part in item.expect:
        assert part in result.stderr, result.stderr
    assert result.stdout == ""
    # Nothing written, nothing changed: no runs/, no output folder, no pwned.txt, the existing
    # experiment byte for byte as it was.
    assert result.after == result.before


# --- the npz data source ---------------------------------------------------------------------


def write_npz(path: Path, y_train: np.ndarray | None = None) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.random((30, 4, 5)),
        y_train=rng.integers(0, 3, 30) if y_train is None else y_train,
        x_val=rng.random((10, 4, 5)),
        y_val=np.array([0, 1, 2, 3, 0, 1, 2, 0, 1, 2]),
    )


def test_an_npz_file_loads_as_a_dataset(tmp_path: Path) -> None:
    from raytune_hp.data import load_data

    write_npz(tmp_path / "set.npz")
    config_dir = tmp_path / "configs"
    config_dir.mkdir()
    path = config_dir / "x.yaml"
    path.write_text("data: {name: npz, path: ../set.npz}\nmodel: {name: mlp}\n")
    config = load_config(path)
    assert config.data.path == str(tmp_path / "set.npz")  # relative to the config's folder
    data = load_data(config.data.name, config.data.val_fraction, config.seed, config.data.path)
    assert data.x_train.shape == (30, 4, 5) and data.x_val.shape == (10, 4, 5)
    assert data.input_shape == (4, 5)
    assert str(data.x_train.dtype) == "torch.float32" and str(data.y_val.dtype) == "torch.int64"
    assert data.num_outputs == 4  # the largest label anywhere, plus one
    assert data.y_val.tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2]
    assert load_config(path).to_yaml() == config.to_yaml()  # the saved config reloads as is


def test_npz_labels_must_be_class_indices(tmp_path: Path) -> None:
    from raytune_hp.data import load_npz

    write_npz(tmp_path / "set.npz", y_train=np.linspace(0, 1, 30))
    with pytest.raises(ConfigError) as info:
        load_npz(tmp_path / "set.npz")
    assert str(info.value) == (
        f"{tmp_path / 'set.npz'}: y_train must be integer class indices ≥ 0, one per sample "
        "(1-D); got float64 of shape (30,) with minimum 0.0"
    )
