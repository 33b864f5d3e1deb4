"""What a user sees of the recommendation tables through the commands and search strategies.

The printed fine-tuning column, the note when a config leaves the table, the refused grid over
five hyperparameters, the grid searcher, coarse-to-fine narrowing and TPE's warm start, each
through the function or command a user calls. The tables themselves (every shipped config's
draws, checked against the tables' own data, overrides, the grid) are tested in tests/unit/spaces/.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from raytune_hp import spaces
from raytune_hp.cli import main
from raytune_hp.config import load_config
from raytune_hp.errors import ConfigError
from raytune_hp.search import PastTrial, build_search, hyperopt_searcher, narrowed_space
from raytune_hp.spaces import contains, resolve_space, sample, start_point

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.yaml"
CNN_GRID = REPO / "configs" / "cnn_grid.yaml"


# --- 2. fine-tuning ----------------------------------------------------------------------------


def test_spaces_lr_prints_the_fine_tuning_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "lr"]) == 0
    out = capsys.readouterr().out
    assert "| optimizer | name in configs | lr range | fine-tuning (×0.01) | notes |" in out
    assert "| Adam | `adam` | [0.001, 0.01] | [1e-05, 0.0001] |" in out
    assert "| AdamW | `adamw` | [0.0001, 0.01] | [1e-06, 0.0001] |" in out
    assert "| SGD | `sgd` | [0.01, 0.1] | [0.0001, 0.001] |" in out


# --- 3. constraints and overrides --------------------------------------------------------------


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


# --- 4. grid -----------------------------------------------------------------------------------


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
    assert len(spaces.grid(config.search_space(), 3)) == 243
    (tmp_path / "four.yaml").write_text(
        FIVE_TUNED.replace("  num_layers: 1\n", "  num_layers: 1\n  weight_decay: 0.0\n")
    )
    assert load_config(tmp_path / "four.yaml").search.strategy == "grid"
    with pytest.raises(ConfigError):
        load_config(tmp_path / "exp.yaml")


def test_the_grid_searcher_hands_out_the_grid_then_finishes() -> None:
    from ray.tune.search import Searcher

    config = load_config(CNN_GRID)
    space = config.search_space()
    expected = spaces.grid(space, config.search.grid_points)
    plan = build_search(config, space, 2, "grid")
    assert plan.num_samples == len(expected) == 27
    searcher, handed, live, ids = plan.searcher, [], [], itertools.count()
    while True:
        trial_id = f"t{next(ids)}"
        point = searcher.suggest(trial_id)
        if point is None:  # two open trials: one must finish first
            assert len(live) == 2
            searcher.on_trial_complete(live.pop(0), {"val_acc": 0.5})
            continue
        if point == Searcher.FINISHED:
            break
        assert len(live) < 2
        live.append(trial_id)
        handed.append(point)
    assert Searcher.FINISHED == "FINISHED"
    assert handed == expected
    assert all(contains(space, point) for point in handed)
    for trial_id in live:
        searcher.on_trial_complete(trial_id, {"val_acc": 0.5})
    assert searcher.suggest("after") == Searcher.FINISHED


# --- 5. coarse-to-fine -------------------------------------------------------------------------


def log_width(low: float, high: float) -> float:
    return math.log(high) - math.log(low)


def test_the_fine_space_lies_in_the_coarse_one_and_holds_the_best() -> None:
    config = load_config(QUICKSTART)
    coarse = config.search_space()
    shrunk, shrunk_batch = 0, 0
    for seed in range(20):
        drawn = sample(coarse, 30, seed)
        scores = np.random.default_rng(seed).random(len(drawn))
        best = [drawn[i] for i in np.argsort(scores)[-3:]]
        fine = resolve_space("cnn", {**config.space, **narrowed_space(coarse, best)})
        for point in best:
            assert contains(fine, point), (seed, point)
        for point in sample(fine, 200, seed):
            assert contains(coarse, point), (seed, point)
        for name in ("optimizer", "kernel_size"):
            assert set(fine[name].choices_or_range()) == {point[name] for point in best}, name
        step = log_width(*coarse["batch_size"].bounds) / 4  # one step of a 5-point grid
        sizes = [point["batch_size"] for point in best]
        batch = fine["batch_size"].choices_or_range()
        low, high = min(batch), max(batch)
        # The span of the best, one log-scale step wider each side, out to powers of two.
        assert low >= 2 ** math.floor(math.log2(min(sizes) * math.exp(-step))), seed
        assert high <= 2 ** math.ceil(math.log2(max(sizes) * math.exp(step))), seed
        assert log_width(low, high) <= log_width(*coarse["batch_size"].bounds)
        shrunk_batch += log_width(low, high) < log_width(*coarse["batch_size"].bounds)
        for optimizer in {point["optimizer"] for point in best}:
            lrs = [point["lr"] for point in best if point["optimizer"] == optimizer]
            c_low, c_high = coarse.lr_range(optimizer)
            f_low, f_high = fine.lr_range(optimizer)
            step = log_width(c_low, c_high) / 4
            # The span of the best, one log-scale step wider on each side, clipped to the coarse.
            assert f_low == pytest.approx(max(c_low, min(lrs) * math.exp(-step)), rel=1e-9)
            assert f_high == pytest.approx(min(c_high, max(lrs) * math.exp(step)), rel=1e-9)
            assert log_width(f_low, f_high) <= log_width(c_low, c_high)
            shrunk += log_width(f_low, f_high) < 0.99 * log_width(c_low, c_high)
    assert shrunk >= 20  # most of the ~40 optimizer ranges narrow
    assert shrunk_batch >= 5, shrunk_batch


# --- 6. warm start -----------------------------------------------------------------------------


def test_tpe_starts_from_the_best_past_trial_then_the_tables_start_and_learns_them() -> None:
    from hyperopt.base import JOB_STATE_DONE

    config = load_config(QUICKSTART)
    space = config.search_space()
    c1, c2, c3 = sample(space, 3, 11)
    assert len({str(c) for c in (c1, c2, c3, start_point(space))}) == 4
    past = [PastTrial(c1, 0.5), PastTrial(c2, 0.9), PastTrial(c3, 0.7)]
    searcher = hyperopt_searcher(config, space, 1, "bayes", 10, past_trials=past)
    history = searcher.searcher._hpopt_trials
    done = [trial for trial in history.trials if trial["state"] == JOB_STATE_DONE]
    assert [trial["result"]["loss"] for trial in done] == [-0.5, -0.9, -0.7]
    for trial, earlier in zip(done, past, strict=True):
        vals = {label: v[0] for label, v in trial["misc"]["vals"].items() if v}
        assert vals == spaces.to_hyperopt_point(space, earlier.config)
        assert vals[f"lr_{earlier.config['optimizer']}"] == earlier.config["lr"]
    assert searcher.suggest("t0") == c2
    assert searcher.suggest("t1") is None  # one at a time
    searcher.on_trial_complete("t0", {"val_acc": 0.1})
    assert searcher.suggest("t1") == start_point(space)
