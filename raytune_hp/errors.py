"""The exceptions raytune-hp raises for problems a user can fix.

The command line turns exactly these into one line on stderr and exit code 2; anything else is a
bug and keeps its traceback. A misspelled name is answered with the closest valid one
(:func:`did_you_mean`), case included.
"""

from __future__ import annotations

import difflib
import math
import os
import reprlib
from collections.abc import Iterable
from itertools import islice
from typing import Any

PREVIEW_CHARS = 60
"""How much of a value a message quotes: a longer string shows its first 60 characters and
``…``, a larger structure its first items, so that a line stays short however much was given."""
MAX_MESSAGE_CHARS = 1000
"""The longest message a user is shown (see :func:`bounded`)."""
_CLOSE_NAMES = 100  # a longer name is no typo of a short one, and difflib's cost grows with it


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


class ExperimentLockedError(RaytuneHPError):
    """Another driver holds the experiment's lock: it is being run or resumed right now."""


class StorageWriteError(RaytuneHPError):
    """A file of the experiment could not be written: the disk is full, read-only, or not ours.

    Not the user's input, but nothing that a traceback would explain either: the command line
    says it in one line, with exit code 1, and the folder stays resumable.

    Example:
        >>> import errno
        >>> cause = OSError(errno.ENOSPC, "No space left on device")
        >>> str(StorageWriteError.of("/runs/x/summary.md", cause))
        '/runs/x/summary.md could not be written: No space left on device (ENOSPC)'
    """

    def __init__(self, message: str, path: str = "", errno: int | None = None) -> None:
        super().__init__(message)
        self.path, self.errno = path, errno

    @classmethod
    def of(cls, path: str, cause: OSError) -> StorageWriteError:
        """The error for ``path``, whose write raised ``cause``."""
        import errno as errnos

        code = cause.errno
        name = errnos.errorcode.get(code, "") if code is not None else ""
        # The system's words for the errno: pyarrow's own messages repeat the path and more.
        why = os.strerror(code) if code else str(cause) or type(cause).__name__
        return cls(f"{path} could not be written: {why}{f' ({name})' if name else ''}", path, code)


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
    if not isinstance(given, str) or len(given) > _CLOSE_NAMES:
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


class _Preview(reprlib.Repr):
    """``repr`` bounded in length and in work: a few items per level, a few levels, the start of
    a long string, and an integer too long to print (Python refuses beyond 4300 digits) by its
    number of digits."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 6
        self.maxstring = self.maxother = PREVIEW_CHARS
        self.fillvalue = "…"

    def repr_str(self, x: str, level: int) -> str:
        return repr(x) if len(x) <= PREVIEW_CHARS else f"{x[:PREVIEW_CHARS]!r}…"

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 4 * PREVIEW_CHARS:  # up to 72 digits: printed whole
            return repr(x)
        if x.bit_length() < 13_000:  # up to ~3,900 digits, which str() prints
            text = str(x)
            return f"{text[:PREVIEW_CHARS]}… (an integer of {len(text.lstrip('-'))} digits)"
        digits = math.floor(x.bit_length() * math.log10(2))
        return f"an integer of about {digits} digits"

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        # In the order given (reprlib sorts the keys), as the config was written.
        if not x:
            return "{}"
        if level <= 0:
            return "{…}"
        pieces = [
            f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}"
            for key, value in islice(x.items(), self.maxdict)
        ]
        if len(x) > self.maxdict:
            pieces.append("…")
        return "{" + ", ".join(pieces) + "}"


_PREVIEW = _Preview()


def preview(value: Any) -> str:
    """``repr(value)`` as a message quotes what was given: whole when short, else its start and
    ``…``; bounded in time and memory whatever ``value`` is (a string of megabytes, a list that
    YAML aliases make exponentially large, an integer of thousands of digits).

    Example:
        >>> preview("adam"), preview({"low": 1, "high": [2, 3]}), preview(10**100)[-26:]
        ("'adam'", "{'low': 1, 'high': [2, 3]}", '(an integer of 101 digits)')
        >>> preview("x" * 1000)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'…"
        >>> preview(list(range(100)))
        '[0, 1, 2, 3, 4, 5, …]'
    """
    text = _PREVIEW.repr(value)
    limit = 2 * PREVIEW_CHARS
    return text if len(text) <= limit else f"{text[:limit]}…"


def bounded(message: str) -> str:
    """``message``, its middle cut when it is longer than :data:`MAX_MESSAGE_CHARS`: a rule that
    quoted a huge value whole keeps its start (the key and the rule) and its end.

    Example:
        >>> line = bounded("x must be short; got " + "a" * 5000)
        >>> len(line) <= MAX_MESSAGE_CHARS + 3, line[:22]
        (True, 'x must be short; got a')
    """
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    half = MAX_MESSAGE_CHARS // 2
    return f"{message[:half]} … {message[-half:]}"
