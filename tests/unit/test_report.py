"""Plots and importance from fake trials (no Ray): valid PNGs written through the store, the
importance estimate finds the hyperparameter that matters, and summary.md shows both."""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.report import (
    Importance,
    TrialRecord,
    hparam_importance,
    plot_importance,
    write_plots,
)
from raytune_hp.report.plots import (
    IMPORTANCE_PNG,
    LEARNING_CURVES_PNG,
    METRIC_VS_HPARAMS_PNG,
    PARALLEL_COORDINATES_PNG,
)
from raytune_hp.report.summary import plots_markdown
from raytune_hp.spaces import SearchSpace, powers_of_two
from raytune_hp.storage import PLOTS_DIR, ExperimentStore

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL_PLOTS = [LEARNING_CURVES_PNG, METRIC_VS_HPARAMS_PNG, PARALLEL_COORDINATES_PNG, IMPORTANCE_PNG]
BEST_LR = 3e-3


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    return load_config(QUICKSTART)


@pytest.fixture(scope="module")
def trials(config: ExperimentConfig) -> list[TrialRecord]:
    return _trials(config, 24)


@pytest.fixture(scope="module")
def importance(config: ExperimentConfig, trials: list[TrialRecord]) -> Importance:
    return hparam_importance(trials, config.search_space(), "val_acc")


def _draw(space: SearchSpace, rng: random.Random) -> dict[str, Any]:
    """One flat configuration of ``space``, drawn uniformly (log-uniform on log scales)."""
    hparams: dict[str, Any] = {}
    for dim in space.dims:
        if dim.fixed:
            hparams[dim.name] = dim.value
        elif dim.kind == "choice":
            hparams[dim.name] = rng.choice(dim.choices)
        elif dim.kind == "log":
            low, high = dim.range_for(hparams.get("optimizer"))
            hparams[dim.name] = 10 ** rng.uniform(math.log10(low), math.log10(high))
        elif dim.kind == "pow2":
            hparams[dim.name] = rng.choice(powers_of_two(*dim.bounds))
        elif dim.kind == "int":
            hparams[dim.name] = rng.randint(int(dim.bounds[0]), int(dim.bounds[1]))
        else:
            hparams[dim.name] = rng.uniform(*dim.bounds)
    return hparams


def _trials(config: ExperimentConfig, n: int, seed: int = 0) -> list[TrialRecord]:
    """``n`` trials whose val_acc falls off with the distance of log10(lr) from its best; the
    other hyperparameters (dropout among them) only add noise. The worse half is pruned."""
    rng = random.Random(seed)
    draws = [_draw(config.search_space(), rng) for _ in range(n)]
    finals = [
        0.97 - 0.15 * (math.log10(h["lr"]) - math.log10(BEST_LR)) ** 2 + rng.gauss(0, 0.005)
        for h in draws
    ]
    cut = sorted(finals)[n // 2]
    trials = []
    for i, (hparams, final) in enumerate(zip(draws, finals, strict=True)):
        epochs = config.train.max_epochs if final >= cut else 2
        curve = tuple((e, final * (1 - 0.6**e)) for e in range(1, epochs + 1))
        status = "completed" if final >= cut else "pruned"
        best = max(value for _, value in curve)
        trials.append(TrialRecord(f"t{i:02d}", status, hparams, best, epochs, curve=curve))
    return trials


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_plots_are_valid_pngs_written_through_the_store(
    config: ExperimentConfig,
    trials: list[TrialRecord],
    importance: Importance,
    tmp_path: Path,
    uri: bool,
) -> None:
    store = ExperimentStore(f"file://{tmp_path}" if uri else str(tmp_path))
    written = write_plots(store.child(PLOTS_DIR), trials, config, importance)
    assert written == ALL_PLOTS
    for name in ALL_PLOTS:
        data = (tmp_path / PLOTS_DIR / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        width, height = _png_size(data)
        assert 300 < width < 3000 and 200 < height < 2500, (name, width, height)
        assert len(data) > 10_000, name


def test_importance_ranks_lr_first_and_dropout_near_the_bottom(config: ExperimentConfig) -> None:
    importance = hparam_importance(_trials(config, 30), config.search_space(), "val_acc")
    ranking = list(importance.scores)
    assert ranking[0] == "lr", importance.scores
    assert importance.scores["dropout"] < 0.05, importance.scores  # noise, like the rest
    assert "num_layers" not in ranking  # fixed by the config: not tuned
    assert sum(importance.scores.values()) == pytest.approx(1.0)
    assert importance.scores["lr"] > 0.5
    assert (importance.advice("lr"), importance.advice("dropout")) == ("finely", "coarsely")


def test_importance_is_reproducible(
    config: ExperimentConfig, trials: list[TrialRecord], importance: Importance
) -> None:
    assert hparam_importance(trials, config.search_space(), "val_acc") == importance


def test_summary_embeds_each_plot_and_the_importance_table(importance: Importance) -> None:
    text = plots_markdown(ALL_PLOTS, importance, "val_acc")
    for name in ALL_PLOTS:
        assert f"]({PLOTS_DIR}/{name})" in text, name
    assert "![learning curves](plots/learning_curves.png)" in text
    lines = text.splitlines()
    header = lines.index("hyperparameter | importance | tune")
    rows = lines[header + 2 : header + 2 + len(importance.scores)]
    assert rows[0].startswith("`lr` | ") and rows[0].endswith(" | finely")
    assert all(row.endswith((" | finely", " | coarsely")) for row in rows)
    assert sum(line.startswith("Rule: *finely*") for line in lines) == 1
    # The trial table stays the only one whose lines start with "| " (readers count its rows).
    assert not any(line.startswith("| ") for line in lines)


def test_too_few_trials_skip_the_importance_in_one_line(
    config: ExperimentConfig, tmp_path: Path
) -> None:
    trials = _trials(config, 3)
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    reason = "it needs at least 4 trials with a `val_acc`; got 3."
    assert importance == Importance({}, reason, 3)
    assert plot_importance(importance) is None
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert IMPORTANCE_PNG not in written and LEARNING_CURVES_PNG in written
    text = plots_markdown(written, importance, "val_acc")
    assert f"Importance skipped: {reason}" in text.splitlines()
    assert "hyperparameter | importance | tune" not in text


def test_trials_without_a_metric_do_not_count(config: ExperimentConfig) -> None:
    trials = _trials(config, 3) + [
        TrialRecord(f"e{i}", "error", {"optimizer": "adam"}, None, 0) for i in range(5)
    ]
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    assert not importance.scores and importance.trials == 3


def test_equal_metrics_skip_the_importance(config: ExperimentConfig) -> None:
    trials = [TrialRecord(t.name, t.status, t.hparams, 0.5, t.epochs) for t in _trials(config, 8)]
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    assert importance.reason == "every trial reached the same `val_acc`."


def test_a_hyperparameter_missing_from_some_trials_counts_as_a_value_of_its_own(
    config: ExperimentConfig, tmp_path: Path
) -> None:
    trials = _trials(config, 20)
    trials = [
        TrialRecord(t.name, t.status, hparams, t.best, t.epochs, curve=t.curve)
        for i, t in enumerate(trials)
        for hparams in [{k: v for k, v in t.hparams.items() if i % 3 or k != "dropout"}]
    ]
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    assert importance.missing == {"dropout": 7}
    assert next(iter(importance.scores)) == "lr"
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert written == ALL_PLOTS
    assert "`dropout` (in 7)" in plots_markdown(written, importance, "val_acc")


def test_no_trials_plot_nothing(config: ExperimentConfig, tmp_path: Path) -> None:
    importance = hparam_importance([], config.search_space(), "val_acc")
    assert write_plots(ExperimentStore(str(tmp_path)), [], config, importance) == []
    assert not (tmp_path / PLOTS_DIR).exists()
    assert "nothing to plot" in plots_markdown([], importance, "val_acc")


def test_the_curve_is_not_part_of_a_trials_identity() -> None:
    record = TrialRecord("t", "completed", {"lr": 0.01}, 0.9, 2, curve=((1, 0.5), (2, 0.9)))
    assert record == TrialRecord("t", "completed", {"lr": 0.01}, 0.9, 2)
    assert "curve" not in repr(record)
