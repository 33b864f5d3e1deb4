"""The tables as text: every optimizer and range printed, only the tables asked for."""

from __future__ import annotations

import pytest

from raytune_hp import spaces
from raytune_hp.errors import SearchSpaceError
from raytune_hp.spaces import format_tables


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
