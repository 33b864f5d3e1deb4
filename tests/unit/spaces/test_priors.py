"""The tables as priors over wider hard ranges: what `space.bounds` and `space.prior` make of a
space, what its searcher draws, and where the first trial starts."""

from __future__ import annotations

import math
import statistics

import pytest

from raytune_hp.errors import SearchSpaceError
from raytune_hp.spaces import contains, resolve_space, sample, start_point
from raytune_hp.spaces.priors import INSIDE, ChoicePrior, NumericPrior

WIDE = {"bounds": "wide"}
PRIORS = {"prior": "tables"}


def test_wide_bounds_widen_each_row_the_config_leaves_alone() -> None:
    space = resolve_space("cnn", {**WIDE, "batch_size": {"low": 32, "high": 256}})
    assert space.lr_range("adam") == pytest.approx((1e-4, 1e-1))  # the table's ÷10 and ×10
    assert space.lr_range("sgd") == pytest.approx((1e-3, 1.0))
    assert space["dropout"].bounds == (0.0, 0.8)
    wd = space["weight_decay"]
    assert (wd.kind, wd.bounds) == ("log", (1e-6, 1e-1))  # 1e-2 reachable only on a log scale
    assert space["num_layers"].bounds == (1, 5)
    assert space["num_kernels"].bounds == (50, 850)
    # What the config narrowed stays narrowed, and choices stay as they are.
    assert space["batch_size"].choices_or_range() == (32, 256)
    assert space["kernel_size"].choices == (1, 3, 5, 7)
    # The table's own bounds are today's space exactly.
    assert resolve_space("cnn", {"bounds": "table"}) == resolve_space("cnn")


def test_table_priors_keep_most_of_their_mass_where_the_tables_recommend() -> None:
    space = resolve_space("cnn", {**WIDE, **PRIORS})
    for optimizer, (low, high) in [("adam", (1e-3, 1e-2)), ("sgd", (1e-2, 1e-1))]:
        prior = space["lr"].prior_for(optimizer)
        assert isinstance(prior, NumericPrior)
        assert prior.mode == pytest.approx(math.sqrt(low * high))  # centred on its range
        assert prior.mass_inside(low, high) == pytest.approx(INSIDE, abs=0.01)
    batch = space["batch_size"].prior_for()
    assert isinstance(batch, NumericPrior) and batch.mode == 128  # the recommended start
    dropout = space["dropout"].prior_for()
    assert isinstance(dropout, NumericPrior)
    # The start, 0.5, sits on the table's edge: the centre lies halfway towards its middle, so
    # most of the mass stays inside [0, 0.5] and some reaches beyond it.
    assert dropout.mode == pytest.approx(0.375)
    assert dropout.mass_inside(0.0, 0.5) > 0.6 and dropout.mass_inside(0.5, 0.8) > 0.2
    optimizer = space["optimizer"].prior_for()
    assert isinstance(optimizer, ChoicePrior)
    shares = dict(zip(space["optimizer"].choices, optimizer.probabilities, strict=True))
    assert shares["adam"] == pytest.approx(2 * shares["sgd"])


def test_draws_follow_the_prior_and_stay_inside_the_hard_range() -> None:
    wide = resolve_space("cnn", WIDE)
    guided = resolve_space("cnn", {**WIDE, **PRIORS})
    flat, drawn = sample(wide, 600, seed=0), sample(guided, 600, seed=0)
    assert all(contains(wide, p) for p in flat) and all(contains(guided, p) for p in drawn)

    def share_in_table(points: list[dict[str, float]]) -> float:
        adam = [p["lr"] for p in points if p["optimizer"] == "adam"]
        return sum(1e-3 <= lr <= 1e-2 for lr in adam) / len(adam)

    assert share_in_table(drawn) == pytest.approx(INSIDE, abs=0.1)
    assert share_in_table(flat) == pytest.approx(1 / 3, abs=0.1)  # one decade of three
    assert sum(p["optimizer"] == "adam" for p in drawn) > 1.5 * 600 / 9
    assert statistics.median(p["batch_size"] for p in drawn) == 128
    # Outside the tables too: the prior leans, it does not wall.
    assert sum(p["lr"] > 1e-2 for p in drawn if p["optimizer"] == "adam") >= 3


def test_the_first_trial_starts_inside_the_table_not_on_its_edge() -> None:
    today = start_point(resolve_space("cnn"))
    assert today["lr"] == 1e-3  # the table's start: the low end of Adam's range
    for overrides in (WIDE, PRIORS, {**WIDE, **PRIORS}):
        point = start_point(resolve_space("cnn", overrides))
        assert point["lr"] == pytest.approx(math.sqrt(1e-3 * 1e-2)), overrides
        assert {k: point[k] for k in ("batch_size", "num_layers", "dropout")} == {
            "batch_size": 128,
            "num_layers": 1,
            "dropout": 0.5,
        }


def test_a_config_names_its_own_prior_centre() -> None:
    space = resolve_space(
        "cnn", {"dropout": {"prior": 0.2}, "num_kernels": {"low": 100, "high": 300, "prior": 150}}
    )
    prior = space["dropout"].prior_for()
    assert isinstance(prior, NumericPrior) and prior.mode == pytest.approx(0.2)
    assert space["num_kernels"].bounds == (100, 300)
    point = start_point(space)
    assert (point["dropout"], point["num_kernels"]) == (0.2, 150)
    own = resolve_space(
        "mlp", {"width": {"kind": "int", "low": 8, "high": 512, "log": True, "prior": 64}}
    )
    width = own["width"].prior_for()
    assert isinstance(width, NumericPrior) and width.mode == pytest.approx(64)
    assert width.scale.name == "log"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bounds": "Wide"}, "space.bounds must be one of table, wide; got 'Wide' (did you mean"),
        ({"prior": "flat"}, "space.prior must be one of tables, uniform; got 'flat'"),
        (
            {"dropout": {"prior": 0.7}},
            "space.dropout.prior must be a number in [0.0, 0.5]; got 0.7",
        ),
        ({"kernel_size": {"prior": 3}}, "space.kernel_size.prior must be given only for a"),
        ({"lr": {"prior": 3e-3}}, "space.lr must not name a prior"),
    ],
)
def test_bad_prior_settings_say_what_must_hold(overrides: dict, message: str) -> None:
    with pytest.raises(SearchSpaceError) as error:
        resolve_space("cnn", overrides)
    assert str(error.value).startswith(message)
