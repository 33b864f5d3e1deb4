"""``search.budget``: what a search may spend, in epochs or in wall-clock time.

One unit, written as a mapping or as words: ``{epochs: 400}`` or ``400 epochs``,
``{minutes: 30}`` or ``30 minutes``, ``{hours: 2}`` or ``2 hours``. With a budget,
``search.num_samples`` is only a cap (none where it is not given): trials keep being proposed
until the budget is spent, so the epochs that early stopping saves pay for more configurations.
How it is spent is :mod:`raytune_hp.budget`'s business; this module only reads it.

Example:
    >>> BudgetConfig.model_validate("400 epochs")
    BudgetConfig(epochs=400, minutes=None, hours=None)
    >>> budget = BudgetConfig.model_validate({"minutes": 30})
    >>> str(budget), budget.unit, budget.amount
    ('30 minutes', 'seconds', 1800.0)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from raytune_hp.errors import did_you_mean, preview
from raytune_hp.values import amount_and_unit, is_number

UNITS = ("epochs", "minutes", "hours")
"""The keys a budget may name, one of them."""
_SECONDS = {"minutes": 60.0, "hours": 3600.0}
_WORDS = {
    "epoch": "epochs",
    "epochs": "epochs",
    "min": "minutes",
    "mins": "minutes",
    "minute": "minutes",
    "minutes": "minutes",
    "h": "hours",
    "hour": "hours",
    "hours": "hours",
}
_EXAMPLES = "{epochs: 400}, {minutes: 30} or {hours: 2} (or 400 epochs, 30 minutes, 2 hours)"


class BudgetConfig(BaseModel):
    """A search's budget: total epochs, or wall-clock minutes or hours (exactly one of them).

    ``unit`` is ``epochs`` or ``seconds`` and ``amount`` the budget in that unit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    epochs: int | None = Field(None, ge=1)
    minutes: float | None = Field(None, gt=0, allow_inf_nan=False)
    hours: float | None = Field(None, gt=0, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _from_words(cls, data: Any) -> Any:
        """``400 epochs`` as ``{epochs: 400}``; anything else that is not a mapping is refused
        here, with the forms that work."""
        if isinstance(data, dict | BudgetConfig):
            return data
        quantity = amount_and_unit(data)
        if quantity is None:
            raise ValueError(f"search.budget must be one of {_EXAMPLES}; got {preview(data)}")
        number, word = quantity
        unit = _WORDS.get(word.casefold())
        if unit is None:
            raise ValueError(
                f"search.budget must name its unit, one of {', '.join(UNITS)}; got "
                f"{preview(word)} in {preview(data)}{did_you_mean(word, UNITS)}"
            )
        return {unit: int(number) if number.is_integer() else number}

    @model_validator(mode="after")
    def _one_unit(self) -> BudgetConfig:
        named = [unit for unit in UNITS if getattr(self, unit) is not None]
        if len(named) != 1:
            given = " and ".join(named) or "{}"
            raise ValueError(
                f"search.budget must name exactly one of {', '.join(UNITS)}, e.g. {_EXAMPLES}; "
                f"got {given}"
            )
        return self

    @model_serializer(mode="wrap")
    def _only_its_unit(self, handler: Any) -> Any:
        """``{epochs: 400}`` in a written config, not the other units as nulls."""
        return {key: value for key, value in handler(self).items() if value is not None}

    @property
    def unit(self) -> Literal["epochs", "seconds"]:
        """What the budget counts: epochs, or seconds of wall-clock time."""
        return "epochs" if self.epochs is not None else "seconds"

    @property
    def amount(self) -> float:
        """The budget in its :attr:`unit`."""
        if self.epochs is not None:
            return float(self.epochs)
        if self.minutes is not None:
            return self.minutes * _SECONDS["minutes"]
        assert self.hours is not None  # _one_unit
        return self.hours * _SECONDS["hours"]

    def __str__(self) -> str:
        """As a person says it: ``400 epochs``, ``30 minutes``, ``1.5 hours``."""
        unit = next(unit for unit in UNITS if getattr(self, unit) is not None)
        value = getattr(self, unit)
        shown = f"{value:g}" if is_number(value) else str(value)
        return f"{shown} {unit[:-1] if shown == '1' else unit}"
