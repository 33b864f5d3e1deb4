"""What a user sees of the recommendation tables, checked against the tables' own data.

Every shipped config's samples are checked by a checker written here from ``spaces.TABLES`` (not
by ``spaces.contains``, which is only asked to agree); then fine-tuning, overrides that leave the
table, cross-field rules, the optional tables, the grid, coarse-to-fine narrowing and TPE's warm
start, each through the function or command a user calls.

Timing (measured on a 2-core machine): drawing and checking 2,000 configurations for each of the
9 shipped configs (18,000 in all) takes about 15 s, from 0.8 s (custom_function, 4 tuned) to
3 s (cnn_tricks, 14 tuned, with the schedule's branches), nearly all of it HyperOpt drawing the
samples; the whole file takes about 23 s.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raytune_hp import spaces
from raytune_hp.cli import main
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError, SearchSpaceError
from raytune_hp.search import PastTrial, build_search, hyperopt_searcher, narrowed_space
from raytune_hp.spaces import contains, resolve_space, sample, start_point

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "configs").glob("*.yaml"))
QUICKSTART = REPO / "configs" / "quickstart.yaml"
CNN_GRID = REPO / "configs" / "cnn_grid.yaml"
DRAWS = 2000
FINE = 0.01  # the design's "two orders of magnitude" for fine-tuning
RESERVED = ("fine_tune", "include")


# --- an independent checker, from the tables' data ---------------------------------------------


def config_rows(config: ExperimentConfig) -> dict[str, spaces.Row]:
    """The rows of the config's tables, in order; where names repeat the first table wins."""
    if config.model.name == "custom":
        names = list(config.model.tables or spaces.DEFAULT_CUSTOM_TABLES)
    else:
        names = list(spaces.MODEL_TABLES[config.model.name])
    names += [name for name in config.space.get("include", []) if name not in names]
    rows: dict[str, spaces.Row] = {}
    for name in names:
        for row in spaces.TABLES[name].rows:
            rows.setdefault(row.name, row)
    return rows


def own_hyperparameters(config: ExperimentConfig) -> dict[str, Mapping[str, Any]]:
    rows = config_rows(config)
    return {
        key: spec
        for key, spec in config.space.items()
        if key not in rows and key not in RESERVED and isinstance(spec, Mapping) and "kind" in spec
    }


def fixed_value(spec: Any) -> tuple[bool, Any]:
    """Whether an override fixes its hyperparameter, and to what."""
    if isinstance(spec, Mapping):
        if "value" in spec:
            return True, spec["value"]
        if "low" in spec and spec.get("low") == spec.get("high"):
            return True, spec["low"]
        if "choices" in spec and len(spec["choices"]) == 1:
            return True, spec["choices"][0]
        return False, None
    if isinstance(spec, list):
        return (True, spec[0]) if len(spec) == 1 else (False, None)
    return spec is not None, spec


def in_domain(kind: str, value: Any, low: Any, high: Any, choices: Sequence[Any]) -> bool:
    """A sampled value of ``kind``: choices exact (type too), ints ints, pow2 powers of two."""
    if kind == "choice":
        return any(type(value) is type(choice) and value == choice for choice in choices)
    if isinstance(value, bool):
        return False
    if kind in ("int", "pow2"):
        if type(value) is not int or (kind == "pow2" and (value <= 0 or value & (value - 1))):
            return False
    elif type(value) is not float:
        return False
    return bool(low <= value <= high)


def lr_bounds(config: ExperimentConfig, optimizer: str) -> tuple[float, float]:
    row = spaces.OPTIMIZERS[optimizer]
    scale = FINE if config.space.get("fine_tune") is True else 1.0
    low, high = row.low * scale, row.high * scale
    spec = config.space.get("lr")
    if isinstance(spec, Mapping) and optimizer in spec:
        spec = spec[optimizer]
    if isinstance(spec, Mapping) and "low" in spec:
        if spec.get(spaces.OUTSIDE) is True:
            return spec["low"], spec["high"]
        return max(low, spec["low"]), min(high, spec["high"])
    return low, high


def problems(config: ExperimentConfig, point: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one sampled configuration; empty when it follows the tables."""
    rows, own, found = config_rows(config), own_hyperparameters(config), []
    expected = set(own)
    for name, row in rows.items():
        if row.when is None or name == spaces.LR or point.get(row.when[0]) in row.when[1]:
            expected.add(name)
    if set(point) != expected:
        found.append(
            f"keys: extra {sorted(set(point) - expected)}, missing {sorted(expected - set(point))}"
        )
    for key, value in point.items():
        spec = config.space.get(key)
        if key in own:
            ok = in_domain(
                spec["kind"], value, spec.get("low"), spec.get("high"), spec.get("choices", ())
            )
            if spec["kind"] == "choice" and len(spec["choices"]) == 1:
                ok = value == spec["choices"][0]
        elif key not in rows:
            continue  # reported with the keys
        elif key == spaces.LR:
            is_fixed, fixed = fixed_value(spec)
            if is_fixed:
                ok = value == fixed
            else:
                optimizer = point.get(spaces.OPTIMIZER)
                ok = optimizer in spaces.OPTIMIZERS and type(value) is float
                if ok:
                    low, high = lr_bounds(config, optimizer)
                    ok = low * (1 - 1e-12) <= value <= high * (1 + 1e-12)
        else:
            row = rows[key]
            is_fixed, fixed = fixed_value(spec)
            outside = isinstance(spec, Mapping) and spec.get(spaces.OUTSIDE) is True
            if is_fixed:
                ok = value == fixed and type(value) is type(fixed)
                if not outside:  # a fixed 0 is a fine dropout: numbers pass as floats
                    number = row.kind in ("float", "log") and not isinstance(value, bool)
                    typed = float(value) if number and isinstance(value, int) else value
                    ok = ok and in_domain(row.kind, typed, row.low, row.high, row.choices)
            elif outside:
                listed = spec.get("choices", ())
                kind = "choice" if listed else row.kind
                ok = in_domain(kind, value, spec.get("low"), spec.get("high"), listed)
            else:
                ok = in_domain(row.kind, value, row.low, row.high, row.choices)
                if isinstance(spec, list):
                    ok = ok and value in spec
                elif isinstance(spec, Mapping) and "low" in spec:
                    ok = ok and spec["low"] <= value <= spec["high"]
        if not ok:
            found.append(f"{key}={value!r} (override {spec!r})")
    if "d_model" in point and "num_heads" in point and point["d_model"] % point["num_heads"]:
        found.append(f"num_heads {point['num_heads']} does not divide d_model {point['d_model']}")
    return found


def choice_values(config: ExperimentConfig) -> dict[str, set[Any]]:
    """The values every tuned choice (or restricted list) can take, to check that all appear."""
    rows, values = config_rows(config), {}
    for name, row in rows.items():
        spec = config.space.get(name)
        if fixed_value(spec)[0] or name == spaces.LR:
            continue
        if isinstance(spec, list):
            values[name] = set(spec)
        elif row.kind == "choice":
            values[name] = set(row.choices)
    for name, spec in own_hyperparameters(config).items():
        if spec["kind"] == "choice" and len(spec["choices"]) > 1:
            values[name] = set(spec["choices"])
    return values


# --- 1. every shipped config, 2,000 draws ------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_draw_of_every_shipped_config_follows_the_tables(path: Path) -> None:
    config = load_config(path)
    space = config.search_space()
    draws = sample(space, DRAWS, config.seed)
    assert len(draws) == DRAWS
    bad = {i: found for i, point in enumerate(draws) if (found := problems(config, point))}
    assert not bad, f"{len(bad)} of {DRAWS} draws break the tables, e.g. {next(iter(bad.items()))}"
    assert all(contains(space, point) for point in draws)
    for name, allowed in choice_values(config).items():
        assert {point[name] for point in draws if name in point} == allowed, name
    if config.model.name == "rnn":
        # The RNN table's clipping range, not the tricks table's [0.5, 5].
        assert min(point["grad_clip"] for point in draws) >= 1.0


def test_the_checker_catches_what_it_is_for() -> None:
    quick, tricks, rnn, transformer = (
        load_config(REPO / "configs" / f"{name}.yaml")
        for name in ("quickstart", "cnn_tricks", "rnn_bayes", "transformer_noam")
    )
    point = sample(quick.search_space(), 1, 0)[0]
    assert problems(quick, point) == []
    adam = {**point, "optimizer": "adam"}
    for broken in [
        {**adam, "lr": 2e-2},  # SGD's range, not Adam's
        {**point, "batch_size": 48},
        {**point, "batch_size": 64.0},
        {**point, "num_layers": 2},  # fixed by the quickstart
        {**point, "kernel_size": 3.0},
        {**point, "dropout": 0.6},
        {**point, "momentum": 0.9},
        {k: v for k, v in point.items() if k != "dropout"},
    ]:
        assert problems(quick, broken), broken
    base = sample(tricks.search_space(), 50, 0)
    constant = next(p for p in base if p["schedule"] == "constant")
    bert = next(p for p in base if p["schedule"] == "bert")
    assert problems(tricks, {**constant, "power": 1.0})
    assert problems(tricks, {k: v for k, v in bert.items() if k != "end_lr"})
    assert problems(tricks, {**bert, "warmup_steps": 400})  # the config's own [50, 300]
    assert problems(rnn, {**sample(rnn.search_space(), 1, 0)[0], "grad_clip": 0.7})
    point = sample(transformer.search_space(), 1, 0)[0]
    found = problems(transformer, {**point, "d_model": 128, "num_heads": 3})
    assert "num_heads 3 does not divide d_model 128" in found
    finetune = load_config(REPO / "configs" / "mlp_finetune.yaml")
    point = {**sample(finetune.search_space(), 1, 0)[0], "optimizer": "adam"}
    assert problems(finetune, {**point, "lr": 2e-3})  # Adam's range before fine-tuning


# --- 2. fine-tuning ----------------------------------------------------------------------------


def test_fine_tuning_lowers_every_lr_range_by_exactly_100x() -> None:
    space = resolve_space("cnn", {"fine_tune": True})
    assert space.fine_tune
    for name, row in spaces.OPTIMIZERS.items():
        low, high = space.lr_range(name)
        assert (low, high) == pytest.approx((row.low / 100, row.high / 100), rel=1e-12)
        # The decimal the table shows, not 1.0000000000000002e-06: the bound is checked exactly.
        assert (low, high) == (float(f"{low:.6g}"), float(f"{high:.6g}")), name
    assert start_point(space)["lr"] == 1e-5
    adamw = resolve_space("cnn", {"fine_tune": True, "optimizer": "adamw", "lr": 1e-6})
    assert adamw["lr"].value == 1e-6 and not adamw["lr"].outside


def test_spaces_lr_prints_the_fine_tuning_column(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "lr"]) == 0
    out = capsys.readouterr().out
    assert "| optimizer | name in configs | lr range | fine-tuning (×0.01) | notes |" in out
    assert "| Adam | `adam` | [0.001, 0.01] | [1e-05, 0.0001] |" in out
    assert "| AdamW | `adamw` | [0.0001, 0.01] | [1e-06, 0.0001] |" in out
    assert "| SGD | `sgd` | [0.01, 0.1] | [0.0001, 0.001] |" in out


# --- 3. constraints and overrides --------------------------------------------------------------


def test_heads_must_divide_d_model_even_outside_the_table() -> None:
    overrides = {"d_model": {"value": 100, spaces.OUTSIDE: True}, "num_heads": 8}
    with pytest.raises(SearchSpaceError, match=r"num_heads.*d_model") as info:
        resolve_space("transformer", overrides)
    assert "num_heads 8 with d_model 100" in str(info.value)
    space = resolve_space("transformer", {**overrides, "num_heads": 4})
    assert space["d_model"].value == 100 and space["d_model"].outside


def test_an_override_outside_the_table_needs_outside_table() -> None:
    with pytest.raises(SearchSpaceError, match=r"^space\.dropout\.high must .*outside_table"):
        resolve_space("cnn", {"dropout": {"low": 0.1, "high": 0.7}})
    with pytest.raises(SearchSpaceError, match="outside_table"):
        resolve_space("cnn", {"num_kernels": {"value": 50}})
    space = resolve_space("cnn", {"dropout": {"low": 0.1, "high": 0.7, spaces.OUTSIDE: True}})
    assert space["dropout"].outside and space["dropout"].bounds == (0.1, 0.7)
    assert not space["batch_size"].outside
    (note,) = spaces.outside_notes(space)
    assert note.startswith("space.dropout leaves the recommendation table") and "[0.1, 0.7]" in note
    draws = sample(space, 200, 0)
    assert all(0.1 <= point["dropout"] <= 0.7 for point in draws)
    assert max(point["dropout"] for point in draws) > 0.6  # the override's range, not the table's
    assert not spaces.outside_notes(resolve_space("cnn", {"dropout": {"low": 0.1, "high": 0.3}}))


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


def test_a_configs_own_hyperparameters_are_sampled_in_their_range() -> None:
    space = resolve_space(
        "cnn",
        {
            "temperature": {"kind": "log", "low": 1e-3, "high": 1e-1},
            "activation": {"kind": "choice", "choices": ["relu", "gelu", "tanh"]},
        },
    )
    assert space["temperature"].custom and space["activation"].custom
    draws = sample(space, 300, 0)
    temperatures = [point["temperature"] for point in draws]
    assert all(type(t) is float and 1e-3 <= t <= 1e-1 for t in temperatures)
    # Log-uniform: about half below the geometric middle (uniform would put ~10% there).
    assert 0.38 < sum(t < 1e-2 for t in temperatures) / len(temperatures) < 0.62
    assert {point["activation"] for point in draws} == {"relu", "gelu", "tanh"}
    assert all(contains(space, point) for point in draws)


def test_an_unknown_name_without_a_kind_is_refused() -> None:
    with pytest.raises(SearchSpaceError, match=r"^space\.temperature must be one of the cnn") as e:
        resolve_space("cnn", {"temperature": {"low": 1e-3, "high": 1e-1}})
    assert "with a kind (log, float, int, pow2, choice)" in str(e.value)


def test_the_optional_tables_add_their_rows_and_schedule_branches() -> None:
    space = resolve_space("cnn", {"include": ["tricks", "schedule"]})
    for name in ("label_smoothing", "grad_clip", "warmup_ratio", "schedule"):
        assert name in space.tuned
    assert "schedule" not in resolve_space("cnn") and "grad_clip" not in resolve_space("cnn")
    draws = sample(space, 400, 1)
    assert {point["schedule"] for point in draws} == set(spaces.SCHEDULES)
    for point in draws:
        bert = point["schedule"] == "bert"
        assert ("power" in point) is bert and ("end_lr" in point) is bert, point
        assert ("warmup_steps" in point) is (point["schedule"] in ("noam", "bert")), point
        assert 0.5 <= point["grad_clip"] <= 5.0  # the tricks table's range for a CNN
        assert contains(space, point)


def test_the_rnn_keeps_its_own_clipping_range_when_tricks_are_included() -> None:
    space = resolve_space("rnn", {"include": ["tricks"]})
    assert space["grad_clip"].bounds == (1.0, 5.0)
    assert min(point["grad_clip"] for point in sample(space, 300, 0)) >= 1.0


def test_a_schedule_parameter_the_fixed_schedule_lacks_is_refused() -> None:
    message = (
        r"^space\.power applies only when schedule is one of \['bert'\]; "
        r"got schedule limited to \['noam'\]$"
    )
    with pytest.raises(SearchSpaceError, match=message):
        resolve_space("cnn", {"include": ["schedule"], "schedule": "noam", "power": 1.0})
    space = resolve_space("cnn", {"include": ["schedule"], "schedule": "noam"})
    assert "power" not in space and "end_lr" not in space and "warmup_steps" in space


def test_an_unknown_optional_table_is_refused() -> None:
    message = r"^space\.include must be a list of the optional tables \(tricks, schedule\); got"
    with pytest.raises(SearchSpaceError, match=message + r" \['nope'\]$"):
        resolve_space("cnn", {"include": ["nope"]})
    with pytest.raises(SearchSpaceError, match=message + r" 'tricks'$"):
        resolve_space("cnn", {"include": "tricks"})


# --- 4. grid -----------------------------------------------------------------------------------

TWO_OPTIMIZERS = {
    "optimizer": ["adam", "sgd"],
    "batch_size": 64,
    "kernel_size": 3,
    "num_kernels": 128,
    "num_layers": 1,
    "weight_decay": 0.0,
}


def test_the_grid_spreads_the_lr_over_each_optimizers_own_range_on_the_log_scale() -> None:
    space = resolve_space("cnn", TWO_OPTIMIZERS)
    assert set(space.tuned) == {"optimizer", "lr", "dropout"}
    points = spaces.grid(space, 3)
    assert len(points) == 2 * 3 * 3 == spaces.grid_size(space, 3)
    assert len({tuple(sorted(point.items())) for point in points}) == len(points)
    for point in points:
        assert not any(isinstance(value, (dict, list)) for value in point.values())
        assert contains(space, point), point
    for name in ("adam", "sgd"):
        row = spaces.OPTIMIZERS[name]
        lrs = sorted({point["lr"] for point in points if point["optimizer"] == name})
        middle = math.sqrt(row.low * row.high)
        assert lrs == pytest.approx([row.low, middle, row.high], rel=2e-3), name
    assert sorted({point["dropout"] for point in points}) == [0.0, 0.25, 0.5]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_grid_size_counts_the_grid(path: Path) -> None:
    config = load_config(path)
    space, points = config.search_space(), config.search.grid_points
    size = spaces.grid_size(space, points)
    if size > 20_000:
        pytest.skip(f"a grid of {size} points is too big to build here")
    grid = spaces.grid(space, points)
    assert len(grid) == size
    assert len({tuple(sorted(point.items(), key=str)) for point in grid}) == size
    assert all(contains(space, point) for point in grid)


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
