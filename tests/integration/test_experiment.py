"""Tiny real experiments (Ray Tune, HyperOpt, ASHA, PyTorch) read back as a user would see them:
summary.md, best_config.yaml, and TensorBoard's own reader and HParams plugin."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import metadata as hparams_metadata

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ExperimentExistsError
from raytune_hp.experiment import ExperimentResult, run_experiment
from raytune_hp.spaces import start_point
from raytune_hp.values import compact
from tests.integration.browser import chromium, hparams_table, tensorboard
from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

TINY = """
name: {name}
seed: 3
train: {{max_epochs: {epochs}}}
space:
  num_kernels: {{low: 100, high: 140}}
  kernel_size: [3, 5]
  num_layers: 1
  batch_size: {{low: 128, high: 512}}
search: {{strategy: {strategy}, num_samples: {samples}}}
early_stopping: {early_stopping}
"""


def _config(
    tmp: Path, name: str, strategy: str, samples: int, epochs: int, early_stopping: str
) -> ExperimentConfig:
    text = TINY.format(
        name=name, strategy=strategy, samples=samples, epochs=epochs, early_stopping=early_stopping
    )
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return load_config(path, [f"storage={tmp / 'runs'}"])


@pytest.fixture(scope="module")
def bayes_run(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> ExperimentResult:
    tmp = tmp_path_factory.mktemp("bayes")
    config = _config(
        tmp, "tiny", "bayes", 6, 4, "{name: asha, grace_period: 1, reduction_factor: 2}"
    )
    return run_experiment(config)


def _summary_rows(exp_dir: Path) -> list[list[str]]:
    return trial_table(exp_dir / "summary.md")


def test_summary_has_one_row_per_trial_best_first(bayes_run: ExperimentResult) -> None:
    header, *rows = _summary_rows(bayes_run.exp_dir)
    assert len(rows) == 6
    for column in ("optimizer", "lr", "batch_size", "dropout", "weight_decay", "kernel_size"):
        assert column in header
    metric = [float(row[header.index("val_acc")]) for row in rows]
    assert metric == sorted(metric, reverse=True)
    assert [row[0] for row in rows] == [trial.name for trial in bayes_run.trials]
    assert metric == [float(compact(trial.best)) for trial in bayes_run.trials]
    statuses = [row[header.index("status")] for row in rows]
    assert set(statuses) <= {"completed", "stopped early"}
    for row, status in zip(rows, statuses, strict=True):
        epochs = int(row[header.index("epochs")])
        assert (status == "completed") == (epochs == 4)
    # Digits' 1,437 images are fewer than twice any CNN's parameters: a note under the table
    # says so of every trial.
    summary = (bayes_run.exp_dir / "summary.md").read_text()
    assert "\n- Over capacity: all 6 trials. " in summary


def test_asha_stopped_some_trials_early(bayes_run: ExperimentResult) -> None:
    epochs = [trial.epochs for trial in bayes_run.trials]
    assert sum(epochs) < 6 * 4, epochs
    stopped = [t for t in bayes_run.trials if t.status == "stopped early"]
    assert stopped and all(t.epochs < 4 for t in stopped)


def test_runs_are_named_by_number_then_what_sets_them_apart(bayes_run: ExperimentResult) -> None:
    names = sorted(trial.name for trial in bayes_run.trials)
    assert [name[:4] for name in names] == [f"{n:03d}_" for n in range(1, 7)]
    for trial in bayes_run.trials:
        assert trial.name.startswith(f"{trial.number:03d}_{trial.hparams['optimizer']}_lr")
        assert (bayes_run.exp_dir / trial.name / "result.json").is_file()


def test_recommended_starting_point_was_tried(bayes_run: ExperimentResult) -> None:
    config = load_config(bayes_run.exp_dir / "config.yaml")
    start = start_point(config.search_space())
    assert start in [trial.hparams for trial in bayes_run.trials]


def test_best_config_is_runnable_and_matches_the_best_trial(bayes_run: ExperimentResult) -> None:
    best = load_config(bayes_run.exp_dir / "best_config.yaml")
    assert best.search.num_samples == 1
    fixed = best.search_space()
    assert fixed.tuned == ()
    assert start_point(fixed) == pytest.approx(bayes_run.trials[0].hparams)


def test_best_config_trains_exactly_the_best_configuration(bayes_run: ExperimentResult) -> None:
    again = run_experiment(load_config(bayes_run.exp_dir / "best_config.yaml"))
    (trial,) = again.trials
    assert trial.hparams == pytest.approx(bayes_run.trials[0].hparams)
    assert (trial.status, trial.epochs) == ("completed", 4)  # its whole budget: no ASHA


def test_config_yaml_is_the_config_as_run(bayes_run: ExperimentResult) -> None:
    saved = load_config(bayes_run.exp_dir / "config.yaml")
    assert saved.search.num_samples == 6
    assert saved.train.max_epochs == 4


def test_existing_experiment_is_refused_not_overwritten(bayes_run: ExperimentResult) -> None:
    before = {p: p.stat().st_mtime_ns for p in bayes_run.exp_dir.rglob("*")}
    with pytest.raises(ExperimentExistsError, match="--resume"):
        run_experiment(load_config(bayes_run.exp_dir / "config.yaml"))
    assert {p: p.stat().st_mtime_ns for p in bayes_run.exp_dir.rglob("*")} == before


def test_event_files_hold_every_trials_scalars_and_hparams(bayes_run: ExperimentResult) -> None:
    events = EventMultiplexer(size_guidance={"scalars": 0}).AddRunsFromDirectory(
        str(bayes_run.exp_dir)
    )
    events.Reload()
    trials = {trial.name: trial for trial in bayes_run.trials}
    assert set(events.Runs()) == set(trials)  # one run per trial, named as in the summary; no "."
    hparams = events.PluginRunToTagToContent("hparams")
    for name, trial in trials.items():
        assert [s.step for s in events.Scalars(name, "val_acc")] == list(range(1, trial.epochs + 1))
        assert len(events.Scalars(name, "train_loss")) >= trial.epochs
        assert len(events.Scalars(name, "lr")) == len(events.Scalars(name, "train_loss"))
        # The score HParams shows (the tag's last value) is the summary's: the best epoch's.
        assert events.Scalars(name, "best/val_acc")[-1].value == pytest.approx(trial.best)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            hparams[name][hparams_metadata.SESSION_START_INFO_TAG]
        )
        assert set(start.hparams) == set(trial.hparams)
        experiment = hparams_metadata.parse_experiment_plugin_data(
            hparams[name][hparams_metadata.EXPERIMENT_TAG]
        )
        assert {info.name for info in experiment.hparam_infos} == set(trial.hparams)


@pytest.fixture(scope="module")
def tensorboard_url(bayes_run: ExperimentResult) -> Iterator[str]:
    with tensorboard(bayes_run.exp_dir) as url:
        yield url


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_tensorboard_hparams_dashboard_tells_the_summarys_story(
    bayes_run: ExperimentResult, tensorboard_url: str
) -> None:
    # What a user sees, through the HParams plugin's own HTTP API: every tuned hyperparameter
    # declared, one row per trial named as in the summary, its score the summary's, and how it
    # ended: stopped early by ASHA where the summary says so.
    experiment = _post(f"{tensorboard_url}/data/plugin/hparams/experiment", {})
    columns = {info["name"] for info in experiment["hparamInfos"]}
    tuned = set(load_config(bayes_run.exp_dir / "config.yaml").search_space().tuned)
    assert tuned <= columns == set(bayes_run.trials[0].hparams)
    metrics = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert metrics[:4] == ["best/val_acc", "val_acc", "epochs", "stopped_early"]
    groups = _post(
        f"{tensorboard_url}/data/plugin/hparams/session_groups",
        {"startIndex": 0, "sliceSize": 100, "allowedStatuses": list(_STATUSES)},
    )["sessionGroups"]
    trials = {trial.name: trial for trial in bayes_run.trials}
    assert sorted(group["name"] for group in groups) == sorted(trials)
    for group in groups:
        trial = trials[group["name"]]
        values = {m["name"]["tag"]: m["value"] for m in group["metricValues"]}
        assert values["best/val_acc"] == pytest.approx(trial.best)
        assert values["epochs"] == trial.epochs
        stopped = trial.status == "stopped early"
        assert values["stopped_early"] == (1.0 if stopped else 0.0), group["name"]
        (session,) = group["sessions"]
        assert session["status"] == "STATUS_SUCCESS"  # completed or stopped early: no failure


_STATUSES = ("STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING")


def test_tensorboard_in_a_browser_crowns_the_trial_the_summary_crowns(
    bayes_run: ExperimentResult, tensorboard_url: str, tmp_path: Path
) -> None:
    # The HParams table in a real browser, sorted by the score with the dashboard's own
    # controls: the summary's order, every run by its name, integers as integers, how each
    # trial ended in a column shown without ticking anything.
    if chromium() is None:
        if os.environ.get("RAYTUNE_HP_REQUIRE_BROWSER"):
            pytest.fail("no chromium, and RAYTUNE_HP_REQUIRE_BROWSER is set (as .ci/run sets it)")
        pytest.skip("no chromium: apt-get install chromium")
    best = bayes_run.best
    assert best is not None
    headers, rows = hparams_table(
        tensorboard_url, "val_acc (best epoch)", best.name, tmp_path / "hparams.png"
    )
    assert (tmp_path / "hparams.png").stat().st_size > 10_000
    column = {name: i for i, name in enumerate(headers)}
    assert {"val_acc (best epoch)", "epochs trained", "stopped early by ASHA"} <= set(column)
    trials = {trial.name: trial for trial in bayes_run.trials}
    assert sorted(row[0] for row in rows) == sorted(trials)
    shown = [float(row[column["val_acc (best epoch)"]]) for row in rows]
    summary = [trial.best for trial in bayes_run.trials]  # best first, as summary.md
    assert shown == pytest.approx(summary, abs=1e-4)
    assert rows[0][0] == best.name or shown[0] == shown[1]  # a tie may put either first
    for row in rows:
        trial = trials[row[0]]
        assert row[column["batch_size"]] == str(trial.hparams["batch_size"])
        stopped = float(row[column["stopped early by ASHA"]])
        assert stopped == (1.0 if trial.status == "stopped early" else 0.0), row[0]


def test_random_search_without_early_stopping_trains_every_trial_fully(
    ray_session: None, tmp_path: Path
) -> None:
    config = _config(tmp_path, "tiny-random", "random", 3, 2, "{name: none}")
    result = run_experiment(config)
    assert [t.status for t in result.trials] == ["completed"] * 3
    assert all(t.epochs == 2 for t in result.trials)
    configs = [t.hparams for t in result.trials]
    assert start_point(config.search_space()) in configs
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 3


def test_report_rewrites_summary_and_plots_from_disk(
    bayes_run: ExperimentResult, capsys: pytest.CaptureFixture[str]
) -> None:
    from raytune_hp.cli import main

    summary = bayes_run.exp_dir / "summary.md"
    summary.unlink()
    assert main(["report", str(bayes_run.exp_dir)]) == 0
    assert f"6 trials: {bayes_run.exp_dir}/summary.md" in capsys.readouterr().out
    text = summary.read_text()
    for plot in ("learning_curves", "metric_vs_hparams", "parallel_coordinates"):
        assert f"(plots/{plot}.png)" in text
        assert (bayes_run.exp_dir / "plots" / f"{plot}.png").stat().st_size > 10_000
