"""load_config as a whole: a config's name, every shipped config, the command line's answer to a
bad config (exit code 2, one line, nothing written), and no torch or Ray to read one."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from raytune_hp.cli import main
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError
from raytune_hp.spaces import grid

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
SHIPPED_CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_the_name_defaults_to_the_file_stem(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    assert load_config(write_config(tmp_path, "seed: 3\n", "my-exp.yaml")).name == "my-exp"
    assert load_config(write_config(tmp_path, "name: other\n", "x.yaml")).name == "other"


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
def cli(
    tmp_path_factory: pytest.TempPathFactory, write_config: Callable[..., Path]
) -> dict[str, tuple[Path, subprocess.Popen[str]]]:
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
    write_config: Callable[..., Path],
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


FIVE_TUNED = """\
model: {name: cnn}
space:
  optimizer: adam
  kernel_size: 3
  num_layers: 1
search:
  strategy: grid
"""


def test_a_grid_over_five_hyperparameters_is_refused_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "exp.yaml").write_text(FIVE_TUNED)
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "exp.yaml"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("raytune-hp: exp.yaml: search.strategy grid must tune at most 4 ")
    assert "(lr, batch_size, num_kernels, dropout, weight_decay)" in err
    assert "search.force_grid" in err and "243 trials" in err
    assert [p.name for p in tmp_path.iterdir()] == ["exp.yaml"]
    (tmp_path / "forced.yaml").write_text(FIVE_TUNED + "  force_grid: true\n")
    config = load_config(tmp_path / "forced.yaml")
    assert len(grid(config.search_space(), 3)) == 243
    (tmp_path / "four.yaml").write_text(
        FIVE_TUNED.replace("  num_layers: 1\n", "  num_layers: 1\n  weight_decay: 0.0\n")
    )
    assert load_config(tmp_path / "four.yaml").search.strategy == "grid"
    with pytest.raises(ConfigError):
        load_config(tmp_path / "exp.yaml")
