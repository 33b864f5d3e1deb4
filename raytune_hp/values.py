"""Small rules about single values that configs, spaces, schedules and checks share: what counts
as a number, an integer, a finite or positive number or a power of two, which powers of two lie
in a range, and how a numpy scalar becomes a Python one.

Each rule lives here once, so that a batch size or a learning rate is judged the same way by every
module. No torch or ray is imported.

Example:
    >>> is_number(True), is_pow2(64), powers_of_two(3, 40)
    (False, True, [4, 8, 16, 32])
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number: an int or a float, or a numpy scalar of either (which
    a search space may hand over); booleans are not numbers here (YAML's ``true`` must not pass
    as ``1``).

    Example:
        >>> import numpy as np
        >>> is_number(3), is_number(0.5), is_number(np.int64(2)), is_number(True), is_number("3")
        (True, True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool, not a float with no fraction).

    Example:
        >>> is_int(3), is_int(3.0), is_int(False)
        (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """Whether ``value`` is a number (see :func:`is_number`) that is neither infinite nor NaN.

    Example:
        >>> is_finite(0.97), is_finite(float("nan")), is_finite(None)
        (True, False, False)
    """
    return is_number(value) and math.isfinite(value)


def is_positive(value: Any) -> bool:
    """Whether ``value`` is a number (see :func:`is_number`) greater than 0.

    Example:
        >>> is_positive(1e-3), is_positive(0), is_positive(True)
        (True, False, False)
    """
    return is_number(value) and value > 0


def is_pow2(value: Any) -> bool:
    """Whether ``value`` is an int (not a bool) that is a power of two: 1, 2, 4, 8, ...

    Example:
        >>> is_pow2(128), is_pow2(96), is_pow2(128.0), is_pow2(True)
        (True, False, False, False)
    """
    return is_int(value) and value > 0 and (value & (value - 1) == 0)


def powers_of_two(low: float, high: float) -> list[int]:
    """The powers of two in ``[low, high]``.

    Example:
        >>> powers_of_two(32, 256)
        [32, 64, 128, 256]
        >>> powers_of_two(3, 40)
        [4, 8, 16, 32]
    """
    return [2**e for e in range(math.ceil(math.log2(low)), math.floor(math.log2(high)) + 1)]


def plain(value: Any) -> Any:
    """``value`` as a Python scalar when it is a numpy scalar (anything with ``.item()``), else
    unchanged: TensorBoard's HParams drop numpy types, and YAML and JSON want plain values.

    Example:
        >>> import numpy as np
        >>> type(plain(np.float64(0.5))), type(plain(np.int64(64))), plain("adam")
        (<class 'float'>, <class 'int'>, 'adam')
    """
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def compact(value: Any, digits: int = 3, exponent: bool = False) -> str:
    """``value`` as the reports write it: an integer as it is, another number to ``digits``
    significant digits, in ``1e-3`` style where it is small (below 0.01) or large (10,000 on),
    or always with ``exponent`` (the two ends of a range written alike); anything else as
    ``str`` gives it.

    Example:
        >>> compact(0.99444), compact(0.006834), compact(9.988e-05), compact(0.0163)
        ('0.994', '6.83e-3', '9.99e-5', '0.0163')
        >>> compact(220), compact(1234.5), compact(2.5e5), compact(0.001), compact("adam")
        ('220', '1230', '2.5e5', '1e-3', 'adam')
        >>> compact(0.01, exponent=True)
        '1e-2'
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if not is_finite(value):
        return str(value)
    # Rounded first, so that 9999.6 and 0.0099996 land on the side their rounding reads.
    number = float(f"{float(value):.{digits}g}")
    if number != 0 and (exponent or not 1e-2 <= abs(number) < 1e4):
        mantissa, power = f"{number:.{digits - 1}e}".split("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(power)}"
    return f"{number:g}"  # 1234.5 reads 1230, never 1.23e+03


_AMOUNT_AND_UNIT = re.compile(r"\s*([-+]?[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?)\s*([A-Za-z]+)\s*")


def amount_and_unit(value: Any) -> tuple[float, str] | None:
    """A number and the word after it, as a config writes a quantity (``30 minutes``,
    ``1.5 h``, ``400epochs``); ``None`` for anything else. The word is returned as written: each
    setting knows its own units.

    Example:
        >>> amount_and_unit("1.5 h"), amount_and_unit(" 400epochs "), amount_and_unit("h")
        ((1.5, 'h'), (400.0, 'epochs'), None)
    """
    match = _AMOUNT_AND_UNIT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    number, word = match.groups()
    return float(number), word


def duration(seconds: float) -> str:
    """A span of time as the progress line and the reports write it: ``42s``, ``1m05s``,
    ``2h03m``.

    Example:
        >>> duration(42.4), duration(65), duration(7380)
        ('42s', '1m05s', '2h03m')
    """
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
