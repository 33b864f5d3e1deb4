"""A config's overrides applied to the tables: fixed values, narrowed ranges, restricted choices,
fine-tuning, overrides that leave the table on purpose, the config's own hyperparameters, the
optional tables, and the rules that span hyperparameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from raytune_hp import spaces
from raytune_hp.errors import SearchSpaceError
from raytune_hp.spaces import contains, resolve_space, sample, start_point

TuneSamples = Callable[..., list[dict[str, Any]]]
InsideTables = Callable[[Mapping[str, Any]], None]


# --- overrides ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_fixed_value_is_not_tuned(form: str, tune_samples: TuneSamples) -> None:
    space = resolve_space("cnn", {"dropout": 0.1, "batch_size": 64})
    assert "dropout" not in space.tuned and "batch_size" not in space.tuned
    draws = sample(space, 50, seed=0) if form == "hyperopt" else tune_samples(space, 50)
    assert {c["dropout"] for c in draws} == {0.1}
    assert {c["batch_size"] for c in draws} == {64}


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_narrowed_range_is_sampled_inside(form: str, tune_samples: TuneSamples) -> None:
    space = resolve_space(
        "cnn", {"batch_size": {"low": 32, "high": 256}, "dropout": {"low": 0.1, "high": 0.2}}
    )
    draws = sample(space, 100, seed=0) if form == "hyperopt" else tune_samples(space, 100)
    assert {c["batch_size"] for c in draws} == {32, 64, 128, 256}
    assert all(0.1 <= c["dropout"] <= 0.2 for c in draws)


def test_a_narrowed_range_equal_at_both_ends_fixes_the_value() -> None:
    assert resolve_space("cnn", {"dropout": {"low": 0.3, "high": 0.3}})["dropout"].fixed


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_restricted_optimizer_keeps_each_its_own_lr_range(
    form: str, tune_samples: TuneSamples, assert_inside_tables: InsideTables
) -> None:
    space = resolve_space("cnn", {"optimizer": ["adam", "sgd"]})
    draws = sample(space, 100, seed=0) if form == "hyperopt" else tune_samples(space, 100)
    assert {c["optimizer"] for c in draws} == {"adam", "sgd"}
    for config in draws:
        assert_inside_tables(config)
    # SGD's range starts where Adam's ends: the lr really follows the optimizer.
    assert min(c["lr"] for c in draws if c["optimizer"] == "sgd") >= 1e-2
    assert max(c["lr"] for c in draws if c["optimizer"] == "adam") <= 1e-2


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_narrowed_lr_intersects_each_optimizer_range(
    form: str, tune_samples: TuneSamples
) -> None:
    space = resolve_space("cnn", {"optimizer": ["adam", "sgd"], "lr": {"low": 5e-3, "high": 5e-2}})
    assert space.lr_range("adam") == (5e-3, 1e-2)
    assert space.lr_range("sgd") == (1e-2, 5e-2)
    draws = sample(space, 100, seed=0) if form == "hyperopt" else tune_samples(space, 100)
    for config in draws:
        low, high = space.lr_range(config["optimizer"])
        assert low <= config["lr"] <= high
        assert contains(space, config)


def test_a_single_optimizer_is_fixed() -> None:
    space = resolve_space("cnn", {"optimizer": "adamw"})
    assert "optimizer" not in space.tuned and "lr" in space.tuned
    draws = sample(space, 20, seed=0)
    assert {c["optimizer"] for c in draws} == {"adamw"}
    assert all(1e-4 <= c["lr"] <= 1e-2 for c in draws)


# --- fine-tuning ----------------------------------------------------------------------------------


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


# --- constraints, the table's edge, the config's own and the optional tables ----------------------


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


OPTIMIZER_CHOICES = (
    "['sgd', 'momentum', 'adagrad', 'adadelta', 'rmsprop', 'adam', 'nadam', 'adamw']"
)
LEAVE = "(or add outside_table: true to leave the table on purpose)"


@pytest.mark.parametrize(
    ("model", "overrides", "message"),
    [
        ("cnn", {"optimizer": "Adam"},
         f"space.optimizer must be one of {OPTIMIZER_CHOICES} {LEAVE}; got 'Adam' "
         "(did you mean adam?)"),
        ("cnn", {"optimizer": ["sgd", "ADAMW"]},
         f"space.optimizer must be one of {OPTIMIZER_CHOICES} {LEAVE}; got 'ADAMW' "
         "(did you mean adamw?)"),
        ("cnn", {"include": ["schedule"], "schedule": "Cosine"},
         "space.schedule must be one of ['constant', 'step', 'cosine', 'noam', 'bert'] "
         f"{LEAVE}; got 'Cosine' (did you mean cosine?)"),
        ("rnn", {"cell": {"value": "LSTM"}},
         f"space.cell must be one of ['lstm', 'gru'] {LEAVE}; got 'LSTM' (did you mean lstm?)"),
        ("cnn", {"optimizer": {"value": "Nadam", spaces.OUTSIDE: True}},
         "space.optimizer must name optimizers of the lr table (sgd, momentum, adagrad, "
         "adadelta, rmsprop, adam, nadam, adamw), with or without outside_table; got 'Nadam' "
         "(did you mean nadam?)"),
        ("cnn", {"optimizer": "adm"},
         f"space.optimizer must be one of {OPTIMIZER_CHOICES} {LEAVE}; got 'adm' "
         "(did you mean adam?)"),
    ],
    ids=["case", "case-in-a-list", "optional-table", "value-form", "outside-the-table", "typo"],
)  # fmt: skip
def test_a_misspelled_choice_is_answered_with_the_closest_value(
    model: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(SearchSpaceError) as info:
        resolve_space(model, overrides)
    assert str(info.value) == message


def test_a_value_close_to_no_choice_gets_no_suggestion() -> None:
    with pytest.raises(SearchSpaceError) as info:
        resolve_space("cnn", {"kernel_size": 4})  # numbers are never "close"
    assert str(info.value) == f"space.kernel_size must be one of [1, 3, 5, 7] {LEAVE}; got 4"
    with pytest.raises(SearchSpaceError) as info:
        resolve_space("cnn", {"optimizer": "lion"})
    assert str(info.value).endswith("; got 'lion'")


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


# --- integers on a log scale ----------------------------------------------------------------------

WIDTH = {"kind": "int", "low": 8, "high": 512, "log": True}
LOG_REFUSED = (
    "must be given only with kind int or float (pow2 and log are on a log scale already, a "
    "choice has no scale); got kind"
)


def test_an_integer_of_your_own_may_be_on_a_log_scale() -> None:
    dim = resolve_space("mlp", {"width": WIDTH})["width"]
    assert (dim.kind, dim.row.log, dim.bounds, dim.custom) == ("int", True, (8, 512), True)
    assert dim.log_scale
    assert not resolve_space("mlp", {"width": {**WIDTH, "log": False}})["width"].log_scale


def test_a_float_on_a_log_scale_is_kind_log() -> None:
    # One kind for one thing: {kind: float, log: true} reads as kind log, as Optuna and Ray write
    # a log-uniform float, and compiles, grids and prints as kind log.
    synonym = resolve_space(
        "cnn", {"scale": {"kind": "float", "low": 1e-3, "high": 1.0, "log": True}}
    )
    log = resolve_space("cnn", {"scale": {"kind": "log", "low": 1e-3, "high": 1.0}})
    assert synonym["scale"] == log["scale"] and synonym["scale"].kind == "log"
    assert sample(synonym, 20, 0) == sample(log, 20, 0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"kind": "choice", "choices": [1, 2], "log": True},
            f"space.width.log {LOG_REFUSED} choice",
        ),
        ({**WIDTH, "kind": "pow2"}, f"space.width.log {LOG_REFUSED} pow2"),
        (
            {"kind": "log", "low": 0.1, "high": 1.0, "log": True},
            f"space.width.log {LOG_REFUSED} log",
        ),
        ({**WIDTH, "log": False, "kind": "pow2"}, f"space.width.log {LOG_REFUSED} pow2"),
        (
            {**WIDTH, "low": 0},
            "space.width must have numbers with 0 < low < high; got low=0, high=512",
        ),
        (
            {"kind": "float", "low": -1.0, "high": 1.0, "log": True},
            "space.width must have numbers with 0 < low < high; got low=-1.0, high=1.0",
        ),
        ({**WIDTH, "log": "yes"}, "space.width.log must be true or false; got 'yes'"),
        (
            {"kind": "int", "low": 8, "log": True},
            "space.width as your own hyperparameter must have kind (one of log, float, int, pow2, "
            "choice) and low and high (start and log optional); got "
            "{'kind': 'int', 'low': 8, 'log': True}",
        ),
    ],
    ids=[
        "choice",
        "pow2",
        "log",
        "false-on-pow2",
        "low-0",
        "float-low-negative",
        "not-bool",
        "no-high",
    ],
)
def test_a_log_scale_is_refused_where_it_makes_no_sense(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(SearchSpaceError) as info:
        resolve_space("mlp", {"width": spec})
    assert str(info.value) == message


# --- a table row whose kind the config changes ----------------------------------------------------

INT_BATCH = {"kind": "int", "low": 16, "high": 200}


def test_a_batch_size_may_become_integers_or_a_choice_where_the_config_says_kind() -> None:
    ints = resolve_space("cnn", {"batch_size": INT_BATCH})["batch_size"]
    assert (ints.kind, ints.bounds, ints.kind_changed, ints.outside) == (
        "int",
        (16, 200),
        True,
        False,
    )
    log = resolve_space("cnn", {"batch_size": {**INT_BATCH, "log": True}})["batch_size"]
    assert log.kind == "int" and log.log_scale and log.kind_changed
    choice = resolve_space("cnn", {"batch_size": {"kind": "choice", "choices": [24, 48, 96]}})
    assert choice["batch_size"].choices_or_range() == (24, 48, 96)
    assert choice["batch_size"].kind_changed
    one = resolve_space("cnn", {"batch_size": {"kind": "choice", "choices": [24]}})["batch_size"]
    assert one.fixed and one.value == 24
    decay = resolve_space("cnn", {"weight_decay": {"kind": "log", "low": 1e-6, "high": 1e-4}})
    assert decay["weight_decay"].kind == "log" and decay["weight_decay"].kind_changed


def test_without_kind_a_batch_size_stays_a_power_of_two() -> None:
    message = r"^space\.batch_size\.high must be a power of two in \[1, 1024\]; got 200$"
    with pytest.raises(SearchSpaceError, match=message):
        resolve_space("cnn", {"batch_size": {"low": 16, "high": 200}})
    with pytest.raises(SearchSpaceError, match=r"^space\.batch_size must be a power of two in "):
        resolve_space("cnn", {"batch_size": 24})


def test_saying_the_rows_own_kind_is_an_ordinary_override() -> None:
    said = resolve_space("cnn", {"batch_size": {"kind": "pow2", "low": 32, "high": 256}})
    plain = resolve_space("cnn", {"batch_size": {"low": 32, "high": 256}})
    assert said == plain and not said["batch_size"].kind_changed
    said = resolve_space("cnn", {"kernel_size": {"kind": "choice", "choices": [3, 5]}})
    assert said == resolve_space("cnn", {"kernel_size": [3, 5]})


def test_a_changed_kind_stays_in_the_tables_range_unless_it_says_outside_table() -> None:
    space = resolve_space("cnn", {"batch_size": {**INT_BATCH, "high": 2000, spaces.OUTSIDE: True}})
    assert space["batch_size"].outside and space["batch_size"].bounds == (16, 2000)
    (note,) = spaces.outside_notes(space)
    assert (
        note.startswith("space.batch_size leaves the recommendation table") and "[16, 2000]" in note
    )
    assert max(point["batch_size"] for point in sample(space, 200, 0)) > 1024


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        (
            "batch_size",
            {**INT_BATCH, "high": 2000},
            "space.batch_size must lie in the table's range [1, 1024] (or add outside_table: true "
            "to leave the table on purpose); got 2000",
        ),
        (
            "batch_size",
            {"kind": "choice", "choices": [24, 2048]},
            "space.batch_size must lie in the table's range [1, 1024] (or add outside_table: true "
            "to leave the table on purpose); got 2048",
        ),
        (
            "batch_size",
            {"kind": "choice", "choices": [24, 48.5]},
            "space.batch_size.choices must be integers; got 48.5",
        ),
        (
            "batch_size",
            {"kind": "choice", "choices": [24, 24]},
            "space.batch_size.choices must list each value once; got [24, 24]",
        ),
        (
            "batch_size",
            {"kind": "float", "low": 16, "high": 200},
            "space.batch_size.kind must be int, pow2 or choice (batch_size takes integers); "
            "got 'float'",
        ),
        (
            "batch_size",
            {"kind": "int", "low": 16},
            "space.batch_size with its kind changed must have kind (one of log, float, int, pow2, "
            "choice) and low and high (outside_table and log optional); got "
            "{'kind': 'int', 'low': 16}",
        ),
        (
            "batch_size",
            {**INT_BATCH, "low": 0, "log": True},
            "space.batch_size must have numbers with 0 < low < high; got low=0, high=200",
        ),
        (
            "dropout",
            {"kind": "int", "low": 0, "high": 1},
            "space.dropout.kind must be float, log or choice (dropout takes numbers); got 'int'",
        ),
        (
            "kernel_size",
            {"kind": "int", "low": 1, "high": 7},
            "space.kernel_size.kind must be choice (kernel_size takes one of [1, 3, 5, 7]); "
            "got 'int'",
        ),
        (
            "weight_decay",
            {"kind": "log", "low": 0, "high": 1e-4},
            "space.weight_decay must have numbers with 0 < low < high; got low=0, high=0.0001",
        ),
    ],
    ids=[
        "beyond-range",
        "choice-beyond-range",
        "choice-not-integer",
        "choice-repeated",
        "integer-to-float",
        "no-high",
        "log-from-0",
        "number-to-integer",
        "choice-to-range",
        "log-decay-from-0",
    ],
)
def test_a_changed_kind_is_refused_with_one_line(
    name: str, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(SearchSpaceError) as info:
        resolve_space("cnn", {name: spec})
    assert str(info.value) == message


@pytest.mark.parametrize(
    "override",
    [
        {"choices": ["adam", "lion"], spaces.OUTSIDE: True},
        {"kind": "choice", "choices": ["adam", "lion"], spaces.OUTSIDE: True},
        {"value": "lion", spaces.OUTSIDE: True},
    ],
    ids=["choices", "kind-choice", "value"],
)
def test_an_optimizer_the_lr_table_lacks_is_refused_even_outside_the_table(
    override: dict[str, Any],
) -> None:
    message = (
        "space.optimizer must name optimizers of the lr table (sgd, momentum, adagrad, "
        "adadelta, rmsprop, adam, nadam, adamw), with or without outside_table; got 'lion'"
    )
    with pytest.raises(SearchSpaceError) as info:
        resolve_space("cnn", {"optimizer": override})
    assert str(info.value) == message
