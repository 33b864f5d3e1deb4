"""The command line as a user runs it: the diagnostic commands write their outputs and overwrite
nothing, the tables and a config's space print as documented, bad arguments get exit 2 and one
line."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune_hp.cli import main

QUICKSTART = str(Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml")


def test_lr_find_writes_its_plot_and_suggests_a_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lr"
    assert main(["lr-find", QUICKSTART, "--steps", "60", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "suggested lr:" in printed and "smoke test" in printed
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_batch_study_writes_plot_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bs"
    args = ["batch-study", QUICKSTART, "--batch-sizes", "64,256", "--max-epochs", "2"]
    assert main([*args, "--target", "0.5", "--out", str(out)]) == 0
    table = (out / "batch_study.md").read_text()
    assert "| 64 |" in table and "| 256 |" in table
    assert (out / "batch_study.png").stat().st_size > 10_000
    assert "Reading:" in capsys.readouterr().out


def test_an_existing_output_folder_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["lr-find", QUICKSTART, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out must be a folder that does not exist yet" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["batch-study", QUICKSTART, "--batch-sizes", "64,abc"], "--batch-sizes must be"),
        (["batch-study", QUICKSTART, "--batch-sizes", "48"], "powers of two"),
        (["report", "/nonexistent/run"], "RUN_DIR must be an experiment folder"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if args[0] == "batch-study":
        args = [*args, "--out", str(tmp_path / "out")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_spaces_lr_prints_the_fine_tuning_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "lr"]) == 0
    out = capsys.readouterr().out
    assert "| optimizer | name in configs | lr range | fine-tuning (×0.01) | notes |" in out
    assert "| Adam | `adam` | [0.001, 0.01] | [1e-05, 0.0001] |" in out
    assert "| AdamW | `adamw` | [0.0001, 0.01] | [1e-06, 0.0001] |" in out
    assert "| SGD | `sgd` | [0.01, 0.1] | [0.0001, 0.001] |" in out


OUTSIDE_CONFIG = """\
model: {name: cnn}
space:
  dropout: {low: 0.1, high: 0.7, outside_table: true}
  num_layers: 1
"""


def test_the_commands_say_when_a_config_leaves_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(OUTSIDE_CONFIG)
    assert main(["spaces", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    (row,) = [line for line in out.splitlines() if line.startswith("| `dropout` |")]
    assert "float [0.1, 0.7]" in row and "outside the table" in row
    assert "outside the table" not in out.replace(row, "")
    assert main(["sample", str(path), "-n", "3"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 3
    notes = err.splitlines()
    assert len(notes) == 1 and notes[0].startswith("raytune-hp: note: space.dropout "), err
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text("model: {name: cnn}\n")
    assert main(["sample", str(quiet), "-n", "2"]) == 0
    assert "note:" not in capsys.readouterr().err


# --- help, version, and names close to the right one ------------------------------------------

COMMANDS = ("tune", "spaces", "check", "lr-find", "batch-study", "report", "results", "sample")


@pytest.mark.parametrize("args", [[], ["help"], ["--help"]], ids=["bare", "help", "--help"])
def test_the_command_alone_or_help_prints_the_commands(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: raytune-hp ") and err == ""
    for command in COMMANDS:
        assert f"\n    {command} " in out
    assert "Exit codes:" in out and "raytune-hp help COMMAND" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_a_command_describes_each_argument_and_its_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["help", command]) == 0
    out = capsys.readouterr().out
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out == out
    assert out.startswith(f"usage: raytune-hp {command} ")
    from raytune_hp.cli import _parser

    parser = _parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    for action in commands.choices[command]._actions:
        assert action.help, f"{command} {action.dest} has no help"
        takes_value = action.option_strings and action.nargs != 0
        if takes_value and action.dest != "overrides":
            assert "default" in action.help, f"{command} {action.option_strings} says no default"
    if command == "tune":
        words = " ".join(out.split())
        assert (
            "--progress-table print Ray's table of trials every 15 s instead of the one-line"
            in words
        )


def test_version_names_the_package_ray_and_torch_without_importing_them() -> None:
    import importlib.metadata
    import subprocess
    import sys

    code = (
        "import sys; from raytune_hp.cli import main; code = main(['--version']); "
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules, 'imported'; "
        "sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    version = importlib.metadata.version
    assert done.stdout.startswith(f"raytune-hp {version('raytune-hp')} (")
    assert f"ray {version('ray')}, torch {version('torch')}" in done.stdout
    assert done.stdout.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["tnue", "x.yaml"],
         "COMMAND must be one of tune, spaces, check, lr-find, batch-study, report, results, "
         "sample or help; got 'tnue' (did you mean tune?)"),
        (["Tune"], "got 'Tune' (did you mean tune?)"),
        (["help", "smaple"], "COMMAND must be one of tune, spaces, check, lr-find, batch-study, "
         "report, results or sample; got 'smaple' (did you mean sample?)"),
        (["results", "runs/x", "--format", "CSV"],
         "--format must be one of csv, json or markdown; got 'CSV' (did you mean csv?)"),
        (["results", "runs/x", "--format", "xml"],
         "--format must be one of csv, json or markdown; got 'xml'\n"),
        (["frobnicate"], "; got 'frobnicate'\n"),
    ],
    ids=["command", "command-case", "help-topic", "choice-case", "choice-not-close",
         "command-not-close"],
)  # fmt: skip
def test_a_misspelled_command_or_choice_is_answered_with_the_closest(
    args: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("raytune-hp: ") and err.count("\n") == 1
    assert line in err


@pytest.mark.parametrize(
    ("yaml", "line"),
    [
        ("search: {strategy: Bayes}\n",
         "exp.yaml: search.strategy must be one of 'grid', 'random', 'bayes' or "
         "'coarse-to-fine'; got 'Bayes' (did you mean bayes?)"),
        ("space: {optimizer: Adam}\n",
         "exp.yaml: space.optimizer must be one of ['sgd', 'momentum', 'adagrad', 'adadelta', "
         "'rmsprop', 'adam', 'nadam', 'adamw'] (or add outside_table: true to leave the table "
         "on purpose); got 'Adam' (did you mean adam?)"),
    ],
    ids=["config-literal", "space-choice"],
)  # fmt: skip
def test_a_misspelled_name_in_a_config_is_answered_with_the_closest(
    yaml: str, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml)
    assert main(["sample", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"raytune-hp: {tmp_path}/{line}\n"
