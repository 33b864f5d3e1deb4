"""The config error contract: every user mistake is one line, ``<file>: <key> must <rule>; got
<value>``, and the command line turns it into exit code 2 with nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from raytune_hp.cli import main
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
SHIPPED_CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def write_config(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path, overrides: list[str] | None = None) -> str:
    """The message ``load_config`` refuses ``path`` with, checked to be one line."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    message = str(info.value)
    assert "\n" not in message, message
    return message


def assert_grammar(message: str, path: Path, key: str, rule: str, given: str) -> None:
    assert message.startswith(f"{path}: {key} must "), message
    assert f" must {rule}" in message, message
    assert message.endswith(f"; got {given}"), message


# --- unknown keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "where", "hint"),
    [
        ("nmae: x\n", "nmae", "at the top level", "name"),
        ("search:\n  num_sample: 4\n", "search.num_sample", "in search", "num_samples"),
        ("early_stopping:\n  grace: 1\n", "early_stopping.grace", "in early_stopping", None),
    ],
    ids=["top-level", "nested", "nested-no-close-match"],
)
def test_a_typo_in_a_key_is_refused_and_the_right_key_suggested(
    tmp_path: Path, text: str, key: str, where: str, hint: str | None
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    typo = key.rsplit(".", 1)[-1]
    assert message.startswith(f"{path}: {key} is not a known key; keys {where} must be one of ")
    assert message.endswith(f"; got {typo!r}")
    if hint is not None:
        assert f"(did you mean {hint}?)" in message
    else:
        assert "did you mean" not in message


# --- wrong types and impossible values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "rule", "given"),
    [
        ("search:\n  num_samples: '4'\n", "search.num_samples", "be an integer", "'4'"),
        ("search:\n  num_samples: true\n", "search.num_samples", "be an integer", "True"),
        ("train:\n  max_epochs: 2.5\n", "train.max_epochs", "be an integer", "2.5"),
        ("search: [1, 2]\n", "search", "be a mapping of keys to values", "[1, 2]"),
        ("early_stopping:\n  reduction_factor: '3'\n", "early_stopping.reduction_factor",
         "be a number", "'3'"),
        ("space: [1]\n", "space", "be a mapping", "[1]"),
        ("name: 'a b'\n", "name", "be a name of letters, digits", "'a b'"),
        ("search:\n  num_samples: 0\n", "search.num_samples", "be ≥ 1", "0"),
        ("data:\n  val_fraction: 1.5\n", "data.val_fraction", "be < 1", "1.5"),
        ("data:\n  val_fraction: 0\n", "data.val_fraction", "be > 0", "0"),
        ("early_stopping:\n  reduction_factor: 1\n", "early_stopping.reduction_factor",
         "be > 1", "1"),
        ("seed: -1\n", "seed", "be ≥ 0", "-1"),
    ],
    ids=["str-for-int", "bool-for-int", "float-for-int", "list-for-mapping", "str-for-number",
         "list-for-space", "bad-name", "num_samples-0", "val_fraction-1.5", "val_fraction-0",
         "reduction_factor-1", "negative-seed"],
)  # fmt: skip
def test_a_wrong_type_or_impossible_value_names_key_rule_and_value(
    tmp_path: Path, text: str, key: str, rule: str, given: str
) -> None:
    path = write_config(tmp_path, text)
    assert_grammar(config_error(path), path, key, rule, given)


@pytest.mark.parametrize(
    ("text", "key", "valid", "given"),
    [
        (
            "search:\n  strategy: hyperband\n",
            "search.strategy",
            ["'grid'", "'random'", "'bayes'", "'coarse-to-fine'"],
            "'hyperband'",
        ),
        ("model:\n  name: vit\n", "model.name", ["'cnn'", "'rnn'", "'transformer'"], "'vit'"),
        ("early_stopping:\n  name: median\n", "early_stopping.name", ["'asha'", "'none'"],
         "'median'"),
        ("train:\n  metric: acc\n", "train.metric", ["'val_acc'", "'val_loss'"], "'acc'"),
    ],
    ids=["strategy", "model", "early-stopping", "metric"],
)  # fmt: skip
def test_an_unknown_name_lists_the_valid_ones(
    tmp_path: Path, text: str, key: str, valid: list[str], given: str
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    assert_grammar(message, path, key, "be one of", given)
    for name in valid:
        assert name in message


def test_grace_period_beyond_the_epoch_budget_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, "train:\n  max_epochs: 3\nearly_stopping:\n  grace_period: 5\n")
    assert_grammar(
        config_error(path), path, "early_stopping.grace_period", "be ≤ train.max_epochs (3)", "5"
    )


def test_grace_period_does_not_matter_without_early_stopping(tmp_path: Path) -> None:
    text = "train:\n  max_epochs: 3\nearly_stopping:\n  name: none\n  grace_period: 5\n"
    assert load_config(write_config(tmp_path, text)).early_stopping.name == "none"


def test_exponent_notation_is_read_as_a_number(tmp_path: Path) -> None:
    # Plain PyYAML reads `1e-3` as a string; learning rates are written that way.
    text = "data:\n  val_fraction: 2e-1\nspace:\n  optimizer: adam\n  lr: {low: 1e-3, high: 5e-3}\n"
    config = load_config(write_config(tmp_path, text))
    assert config.data.val_fraction == 0.2
    assert config.search_space().lr_range("adam") == (1e-3, 5e-3)


# --- the file itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule", "given"),
    [
        ("", "be a YAML mapping of keys to values", "an empty file"),
        ("- a\n- b\n", "be a YAML mapping of keys to values", "a list"),
        ("search: {num_samples: 4\n", "be valid YAML", "at line 2"),
    ],
    ids=["empty", "a-list", "invalid-syntax"],
)
def test_a_file_that_is_not_a_mapping_is_refused(
    tmp_path: Path, text: str, rule: str, given: str
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    assert message.startswith(f"{path}: the file must {rule}; got ")
    assert message.endswith(given)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = config_error(path)
    assert message == f"{path}: the config file must be readable; got No such file or directory"


# --- --set overrides ---------------------------------------------------------------------------


def test_set_overrides_a_nested_key_with_a_typed_value() -> None:
    config = load_config(QUICKSTART, ["search.num_samples=4", "space.dropout=0.25"])
    assert config.search.num_samples == 4
    assert config.space["dropout"] == 0.25
    assert config.search_space()["dropout"].fixed


@pytest.mark.parametrize("item", ["search.num_samples", "=3", "search num_samples=3"])
def test_a_set_without_key_equals_value_is_refused(item: str) -> None:
    message = config_error(QUICKSTART, [item])
    assert message == f"--set must be KEY=VALUE with a dotted KEY; got {item!r}"


def test_a_set_value_is_validated_like_the_file(tmp_path: Path) -> None:
    assert_grammar(
        config_error(QUICKSTART, ["seed=abc"]), QUICKSTART, "seed", "be an integer", "'abc'"
    )
    message = config_error(QUICKSTART, ["search.num_sample=4"])
    assert message.startswith(f"{QUICKSTART}: search.num_sample is not a known key;")
    assert "(did you mean num_samples?)" in message


def test_a_set_below_a_value_is_refused() -> None:
    message = config_error(QUICKSTART, ["seed.x=1"])
    assert message == "--set seed.x: seed must be a mapping to set keys in; got 0"


# --- space overrides ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "key", "rule", "given"),
    [
        ("momentum: 0.9", "space.momentum", "be one of the cnn space's", "'momentum'"),
        ("batch_size: 100", "space.batch_size", "be a power of two in [1, 1024]", "100"),
        ("batch_size: 64.0", "space.batch_size", "be a power of two in [1, 1024]", "64.0"),
        ("batch_size: {low: 3, high: 64}", "space.batch_size.low", "be a power of two", "3"),
        ("dropout: 0.9", "space.dropout", "be a number in [0, 0.5]", "0.9"),
        ("num_kernels: 50", "space.num_kernels", "be an integer in [100, 600]", "50"),
        ("num_layers: 2.0", "space.num_layers", "be an integer in [1, 4]", "2.0"),
        ("kernel_size: 2", "space.kernel_size", "be one of [1, 3, 5, 7]", "2"),
        ("kernel_size: 3.0", "space.kernel_size", "be one of [1, 3, 5, 7]", "3.0"),
        ("dropout: {low: 0.4, high: 0.1}", "space.dropout.low", "be ≤ space.dropout.high",
         "low=0.4, high=0.1"),
        ("optimizer: [adam, lion]", "space.optimizer", "be one of ['sgd', 'momentum'", "'lion'"),
        ("lr: 0.5", "space.lr", "lie in the range of every optimizer", "0.5"),
    ],
    ids=["unknown", "batch-not-pow2", "batch-float", "batch-range-not-pow2", "dropout-0.9",
         "num_kernels-50", "num_layers-float", "kernel_size-2", "kernel_size-float", "low>high",
         "unknown-optimizer", "lr-outside"],
)  # fmt: skip
def test_a_space_override_outside_the_tables_is_refused(
    tmp_path: Path, space: str, key: str, rule: str, given: str
) -> None:
    path = write_config(tmp_path, f"space:\n  {space}\n")
    assert_grammar(config_error(path), path, key, rule, given)


def test_an_lr_range_that_misses_an_optimizer_says_which_and_how_to_fix(tmp_path: Path) -> None:
    path = write_config(tmp_path, "space:\n  lr: {low: 1.0e-5, high: 1.0e-4}\n")
    message = config_error(path)
    assert message.startswith(f"{path}: space.lr must overlap the range of every optimizer")
    assert "misses sgd's [0.01, 0.1]" in message
    assert "restrict space.optimizer" in message


def test_restricting_the_optimizer_makes_a_low_lr_range_valid(tmp_path: Path) -> None:
    text = "space:\n  optimizer: [adamw, adam]\n  lr: {low: 1.0e-4, high: 2.0e-3}\n"
    space = load_config(write_config(tmp_path, text)).search_space()
    assert space["optimizer"].choices == ("adamw", "adam")
    assert space.lr_range("adamw") == (1e-4, 2e-3)
    assert space.lr_range("adam") == (1e-3, 2e-3)


# --- the config object -------------------------------------------------------------------------


def test_the_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, "seed: 3\n", "my-exp.yaml")).name == "my-exp"
    assert load_config(write_config(tmp_path, "name: other\n", "x.yaml")).name == "other"


def test_a_config_is_frozen() -> None:
    config = load_config(QUICKSTART)
    with pytest.raises(ValidationError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.search.num_samples = 1  # type: ignore[misc]


def test_to_yaml_round_trips_through_load_config(tmp_path: Path) -> None:
    config = load_config(QUICKSTART, ["seed=7", "space.optimizer=[adam, sgd]"])
    path = write_config(tmp_path, config.to_yaml(), "elsewhere.yaml")
    again = load_config(path)
    assert again == config
    assert again.name == "quickstart"  # the saved name wins over the new file's stem
    assert yaml.safe_load(config.to_yaml())["search"]["strategy"] == "bayes"  # defaults filled


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=[p.name for p in SHIPPED_CONFIGS])
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, ExperimentConfig)
    assert config.search_space().tuned


def test_there_are_shipped_configs() -> None:
    assert QUICKSTART in SHIPPED_CONFIGS


# --- the command line --------------------------------------------------------------------------
# `tune` and `sample` run as real processes (exit code, stderr, nothing written); the other
# bad-input cases go through `main` in-process, which is the same code without the start-up cost.

TYPO = "search:\n  num_sample: 4\n"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.Popen[str]]]:
    """Starts both commands at once (each pays Python's and torch's start-up), a folder each."""
    commands = {
        "tune-typo": (TYPO, ["tune", "exp.yaml"]),
        "sample-quickstart": (None, ["sample", str(QUICKSTART), "-n", "5"]),
    }
    runs = {}
    for name, (text, args) in commands.items():
        cwd = tmp_path_factory.mktemp(name)
        if text is not None:
            write_config(cwd, text)
        process = subprocess.Popen(
            [sys.executable, "-m", "raytune_hp", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        runs[name] = (cwd, process)
    return runs


def finish(run: tuple[Path, subprocess.Popen[str]]) -> tuple[Path, int, str, str]:
    cwd, process = run
    stdout, stderr = process.communicate(timeout=120)
    return cwd, process.returncode, stdout, stderr


def assert_bad_input(cwd: Path, code: int, stdout: str, stderr: str, *parts: str) -> None:
    assert code == 2, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert stderr.startswith("raytune-hp: ")
    for part in parts:
        assert part in stderr
    assert sorted(p.name for p in cwd.iterdir()) == ["exp.yaml"]  # no runs/, nothing written


def test_tune_with_a_typo_exits_2_with_one_line_and_writes_nothing(
    cli: dict[str, tuple[Path, subprocess.Popen[str]]],
) -> None:
    cwd, code, stdout, stderr = finish(cli["tune-typo"])
    assert_bad_input(cwd, code, stdout, stderr, "exp.yaml: search.num_sample ", "num_samples?")


def test_sample_prints_one_json_configuration_a_line(
    cli: dict[str, tuple[Path, subprocess.Popen[str]]],
) -> None:
    cwd, code, stdout, stderr = finish(cli["sample-quickstart"])
    assert code == 0, stderr
    points = [json.loads(line) for line in stdout.splitlines()]
    assert len(points) == 5
    space = load_config(QUICKSTART).search_space()
    for point in points:
        assert list(point) == [dim.name for dim in space.dims]
        assert point["num_layers"] == 1  # the quickstart fixes it
        assert 32 <= point["batch_size"] <= 256  # and narrows this
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "args", "parts"),
    [
        (TYPO, ["sample", "exp.yaml"], ["exp.yaml: search.num_sample ", "num_samples?"]),
        ("seed: 1\n", ["sample", "exp.yaml", "-n", "0"], ["-n must be an integer ≥ 1; got 0"]),
        ("seed: 1\n", ["tune", "exp.yaml", "--set", "seed"], ["--set must be KEY=VALUE"]),
        ("seed: 1\n", ["tune", "exp.yaml", "--bogus"], ["unrecognized arguments: --bogus"]),
    ],
    ids=["sample-typo", "sample-n-0", "tune-bad-set", "unknown-flag"],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    args: list[str],
    parts: list[str],
) -> None:
    write_config(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors leave through exit()
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert_bad_input(tmp_path, code, out, err, *parts)


def test_reading_a_config_imports_neither_torch_nor_ray() -> None:
    code = (
        "import sys; from raytune_hp.config import load_config; import raytune_hp.cli; "
        f"load_config({str(QUICKSTART)!r}); "
        "print(sorted(m for m in ('torch', 'ray', 'hyperopt') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
