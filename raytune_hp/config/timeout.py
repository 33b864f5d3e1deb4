"""``train.trial_timeout``: how long one trial, or one of its epochs, may take before it is
ended and recorded as timed out (a training function that hangs, an epoch that never returns).

A duration is seconds (``90``) or words (``90 s``, ``10 min``, ``1.5 hours``). One duration is
the limit on the whole trial; a mapping sets either limit or both: ``{epoch: 60 s, trial: 1 h}``.
The epoch limit is the longest a trial may go without reporting (its first epoch included); the
trial limit counts its training time over every retry and resume. How they are enforced is
:mod:`raytune_hp.timeouts`' business; this module only reads them.

Example:
    >>> TrialTimeout.model_validate("10 min")
    TrialTimeout(epoch=None, trial=600.0)
    >>> limits = TrialTimeout.model_validate({"epoch": 90, "trial": "2 h"})
    >>> limits.epoch, limits.trial, str(limits)
    (90.0, 7200.0, 'epoch 90 s, trial 2 h')
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from raytune_hp.errors import did_you_mean, preview
from raytune_hp.values import amount_and_unit, is_number

LIMITS = ("epoch", "trial")
"""The keys of a mapping ``train.trial_timeout``: either or both."""
_SECONDS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
}
_KEY = "train.trial_timeout"
_FORMS = "seconds (90), or a number with s, min or h (90 s, 10 min, 1.5 h)"


def seconds(value: Any, key: str = _KEY) -> float:
    """A duration in seconds: a number of them, or a number with its unit.

    Example:
        >>> seconds(90), seconds("1.5 h"), seconds("45s")
        (90.0, 5400.0, 45.0)

    Raises:
        ValueError: anything else, or a duration that is not above 0, in the error grammar.
    """
    if is_number(value) and not isinstance(value, bool):
        try:
            amount = float(value)
        except OverflowError:  # an integer beyond any float: no duration
            amount = math.inf
    else:
        quantity = amount_and_unit(value)
        if quantity is None:
            raise ValueError(f"{key} must be a duration: {_FORMS}; got {preview(value)}")
        number, word = quantity
        unit = _SECONDS.get(word.casefold())
        if unit is None:
            raise ValueError(
                f"{key} must name its unit, s, min or h; got {preview(word)} in {preview(value)}"
                f"{did_you_mean(word, _SECONDS)}"
            )
        amount = number * unit
    if not (math.isfinite(amount) and amount > 0):
        raise ValueError(f"{key} must be a duration above 0 seconds, finite; got {preview(value)}")
    return amount


def _words(amount: float) -> str:
    """``90 s``, ``10 min``, ``1.5 h``: the largest unit that divides it (half hours too)."""
    if amount >= 3600 and amount % 1800 == 0:
        return f"{amount / 3600:g} h"
    if amount >= 60 and amount % 60 == 0:
        return f"{amount / 60:g} min"
    return f"{amount:g} s"


class TrialTimeout(BaseModel):
    """The time limits of a trial, in seconds: ``epoch`` between two reports (the first counted
    from its start), ``trial`` for its whole training; ``None`` for no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    epoch: float | None = None
    trial: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _durations(cls, data: Any) -> Any:
        """One duration as the trial's limit; a mapping's values as seconds."""
        if isinstance(data, TrialTimeout):
            return data
        if not isinstance(data, dict):
            return {"trial": seconds(data)}
        unknown = [key for key in data if key not in LIMITS]
        if unknown:
            raise ValueError(
                f"{_KEY} must name epoch, trial or both; got {unknown[0]!r}"
                f"{did_you_mean(unknown[0], LIMITS)}"
            )
        if not any(data.get(key) is not None for key in LIMITS):
            raise ValueError(f"{_KEY} must set epoch, trial or both; got {data!r}")
        return {
            key: seconds(value, f"{_KEY}.{key}") for key, value in data.items() if value is not None
        }

    @model_serializer(mode="wrap")
    def _only_its_limits(self, handler: Any) -> Any:
        """``{trial: 600.0}`` in a written config, not the other limit as a null."""
        return {key: value for key, value in handler(self).items() if value is not None}

    def __str__(self) -> str:
        """As a person says it: ``epoch 90 s, trial 2 h``."""
        limits = [(key, getattr(self, key)) for key in LIMITS]
        return ", ".join(f"{key} {_words(value)}" for key, value in limits if value is not None)
