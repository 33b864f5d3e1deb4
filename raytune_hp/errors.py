"""The exceptions raytune-hp raises for problems a user can fix.

The command line turns exactly these into one line on stderr and exit code 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


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
