"""The exceptions raytune-hp raises for problems a user can fix.

The command line turns exactly these into one line on stderr and exit code 2; anything else is a
bug and keeps its traceback. A misspelled name is answered with the closest valid one
(:func:`did_you_mean`), case included.
"""

from __future__ import annotations

import difflib
import os
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
