"""The exceptions raytune-hp raises for problems a user can fix.

The command line turns exactly these into one line on stderr and exit code 2; anything else is a
bug and keeps its traceback. A misspelled name is answered with the closest valid one
(:func:`did_you_mean`), case included.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RaytuneHPError(Exception):
    """Base of every error caused by the user's input rather than by a bug."""


class ConfigError(RaytuneHPError):
    """An experiment config (file, key or value) breaks a rule.

    Messages follow one grammar: ``<file>: <key> must <rule>; got <value>``.
    """


class SearchSpaceError(RaytuneHPError):
    """A search-space override contradicts the recommendation tables or itself."""


class ExperimentExistsError(RaytuneHPError):
    """An experiment folder already exists and ``--resume`` was not given."""


def did_you_mean(given: object, options: Iterable[object]) -> str:
    """`` (did you mean <option>?)`` for the option closest to ``given``, or ``""`` when none is
    close: what a message adds after ``got <value>``. Only names are compared (strings; a number
    is never "close" to another), case ignored, so ``Adam`` finds ``adam``.

    Example:
        >>> did_you_mean("Adam", ["sgd", "adam"]), did_you_mean("CSV", ["csv", "json"])
        (' (did you mean adam?)', ' (did you mean csv?)')
        >>> did_you_mean("tnue", ["tune", "spaces"]), did_you_mean("hyperband", ["grid", "bayes"])
        (' (did you mean tune?)', '')
    """
    if not isinstance(given, str):
        return ""
    by_folded: dict[str, str] = {}
    for option in options:
        if isinstance(option, str):
            by_folded.setdefault(option.casefold(), option)
    folded = given.casefold()
    close = [folded] if folded in by_folded else difflib.get_close_matches(folded, by_folded, n=1)
    if not close or by_folded[close[0]] == given:
        return ""
    return f" (did you mean {by_folded[close[0]]}?)"
