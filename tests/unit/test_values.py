"""The shared value rules: numbers are never booleans (numpy's included), powers of two are ints,
numpy scalars become Python ones."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from raytune_hp.values import (
    compact,
    is_finite,
    is_int,
    is_number,
    is_positive,
    is_pow2,
    plain,
    powers_of_two,
)


@pytest.mark.parametrize(
    "value", [0, 3, -2, 0.5, 1e-8, float("inf"), np.float64(0.1), np.int64(3), np.float32(2)]
)
def test_ints_and_floats_are_numbers_numpy_scalars_too(value: Any) -> None:
    # A search space's samples may hold numpy scalars; a schedule must take them as numbers.
    assert is_number(value)


@pytest.mark.parametrize("value", [True, False, "3", None, [1], np.bool_(True)])
def test_booleans_and_strings_are_not_numbers(value: Any) -> None:
    assert not is_number(value)


def test_an_integer_is_an_int_and_nothing_else() -> None:
    assert is_int(3) and is_int(-1) and is_int(2**70)
    assert not any(is_int(v) for v in (3.0, True, "3", None))


def test_finite_is_a_number_that_is_not_inf_or_nan() -> None:
    assert is_finite(0.97) and is_finite(-2) and is_finite(np.float64(1.5))
    assert not any(is_finite(v) for v in (float("inf"), float("nan"), None, True, "0.9"))


def test_positive_is_a_number_above_zero() -> None:
    assert is_positive(1) and is_positive(1e-6)
    assert not any(is_positive(v) for v in (0, 0.0, -1, True, "1", None))


@pytest.mark.parametrize("value", [1, 2, 4, 64, 1024, 2**40])
def test_powers_of_two(value: int) -> None:
    assert is_pow2(value)


@pytest.mark.parametrize("value", [0, -2, 3, 96, 1023, 64.0, True, "64", None])
def test_not_powers_of_two(value: Any) -> None:
    assert not is_pow2(value)


def test_powers_of_two_in_a_range_include_the_bounds() -> None:
    assert powers_of_two(1, 1024) == [2**e for e in range(11)]
    assert powers_of_two(32, 256) == [32, 64, 128, 256]
    assert powers_of_two(3, 40) == [4, 8, 16, 32]
    assert powers_of_two(5, 7) == []


def test_plain_unwraps_numpy_scalars_and_keeps_the_rest() -> None:
    assert type(plain(np.float64(3e-3))) is float and plain(np.float64(3e-3)) == 3e-3
    assert type(plain(np.int64(64))) is int and plain(np.int64(64)) == 64
    assert type(plain(np.bool_(True))) is bool
    for value in ("adam", 3, 0.5, None, True):
        assert plain(value) is value


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.99444, "0.994"),
        (0.006834, "6.83e-3"),
        (9.988e-05, "9.99e-5"),
        (0.0163, "0.0163"),
        (1e-3, "1e-3"),
        (1234.5, "1230"),
        (2.5e5, "2.5e5"),
        (9999.6, "1e4"),
        (0.0, "0"),
        (220, "220"),
        (np.int64(12), "12"),
        ("adam", "adam"),
        (True, "True"),
    ],
)
def test_compact_numbers_keep_three_digits_and_write_small_and_large_ones_as_1e_3(
    value: Any, shown: str
) -> None:
    assert compact(value) == shown
