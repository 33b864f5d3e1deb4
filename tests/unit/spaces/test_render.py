"""The tables and spaces as text: every optimizer and range printed, only the tables asked for;
a config's space with its log scales and the kinds it changed."""

from __future__ import annotations

import pytest

from raytune_hp import spaces
from raytune_hp.errors import SearchSpaceError
from raytune_hp.spaces import format_space, format_tables, resolve_space
from raytune_hp.spaces.render import domain_text


def test_format_tables_prints_every_optimizer_and_range() -> None:
    text = format_tables()
    for row in spaces.LR_TABLE:
        assert f"| {row.label} | `{row.name}` | [{row.low:g}, {row.high:g}] |" in text
    for fragment in [
        "a power of two in [1, 1024]",
        "| `dropout` | a number in [0, 0.5] | 0.5 |",
        "a number in [0, 0.0001]",
        "one of [1, 3, 5, 7]",
        "an integer in [100, 600]",
        "an integer in [1, 4]",
    ]:
        assert fragment in text


def test_format_tables_prints_only_the_tables_asked_for() -> None:
    text = format_tables(["cnn"])
    assert "`kernel_size`" in text and "Adam" not in text


def test_format_tables_refuses_an_unknown_table() -> None:
    message = (
        r"^TABLE must be one of lr, optimization, regularization, cnn, rnn, transformer, mlp, "
        r"tricks, schedule; got 'nope'$"
    )
    with pytest.raises(SearchSpaceError, match=message):
        format_tables(["nope"])


def test_format_space_shows_a_log_scale_and_a_kind_the_config_changed() -> None:
    space = resolve_space(
        "cnn",
        {
            "batch_size": {"kind": "int", "low": 16, "high": 200},
            "kernel_size": {"kind": "choice", "choices": [3, 5]},  # its own kind: not a change
            "weight_decay": {"kind": "log", "low": 1e-6, "high": 1e-4},
            "width": {"kind": "int", "low": 8, "high": 512, "log": True},
        },
    )
    lines = {line.split(" | ")[0]: line for line in format_space(space).splitlines()}
    assert (
        lines["| `batch_size`"]
        == "| `batch_size` | int [16, 200] | 128 | kind changed by the config |"
    )
    assert lines["| `kernel_size`"] == "| `kernel_size` | one of [3, 5] | 3 |  |"
    assert lines["| `weight_decay`"] == (
        "| `weight_decay` | log [1e-06, 0.0001] | 1e-06 | kind changed by the config |"
    )
    assert lines["| `width`"] == (
        "| `width` | int, log scale [8, 512] | 8 | the config's own hyperparameter |"
    )
    outside = resolve_space("cnn", {"batch_size": {"kind": "choice", "choices": [24, 2000],
                                                   "outside_table": True}})  # fmt: skip
    (line,) = [line for line in format_space(outside).splitlines() if "`batch_size`" in line]
    assert line.endswith(
        "| one of [24, 2000] | 24 | **outside the table** (outside_table: true); "
        "kind changed by the config |"
    )


def test_domain_text_names_the_log_scale() -> None:
    row = spaces.Row("width", "int", 8, 512, log=True)
    assert domain_text(row) == "an integer on a log scale in [8, 512]"


def test_format_space_shows_each_hard_range_and_its_prior() -> None:
    space = resolve_space("cnn", {"bounds": "wide", "prior": "tables", "num_layers": 1})
    rows = {
        line.split("|")[1].strip(" `"): line
        for line in format_space(space).splitlines()
        if line.startswith("| `")
    }
    assert "| hyperparameter | hard range | prior | start | note |" in format_space(space)
    assert "adam: [0.0001, 0.1]" in rows["lr"]
    assert "adam: centred at 3.16e-3, 60% in [1e-3, 0.01]" in rows["lr"]
    assert "| log [1e-06, 0.1] | centred at 1e-5, 60% in [1e-6, 1e-4] |" in rows["weight_decay"]
    assert "widened to a log scale (bounds: wide)" in rows["weight_decay"]
    assert "| one of [1, 3, 5, 7] | 3 40%, the others 20% each | 3 |" in rows["kernel_size"]
    assert "| fixed at 1 | – | 1 |" in rows["num_layers"]
    # Without priors the table reads as it always has: no prior column.
    assert "| hyperparameter | searched over | start | note |" in format_space(resolve_space("cnn"))
