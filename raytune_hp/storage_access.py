"""Whether a local storage folder can hold an experiment, checked before Ray starts.

Ray Tune finds out only once it writes, after Ray's start-up and the first trials, with a
traceback. A folder path is checked here without writing anything: the nearest part of it that
exists must be a folder this process may write into, on a filesystem that is not read-only, and
the parts still to be made must be names the filesystem takes. Storage at a URI (``s3://``,
``gs://``) is left to its own client.

Example:
    >>> check_storage("runs", "quickstart")  # a folder that can be made here: no error
    >>> try:
    ...     check_storage("/dev/null/runs", "quickstart")
    ... except ConfigError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    storage must be a folder this process can write into (or make); got '/dev/null/runs', where
    /dev/null is not a folder
"""

from __future__ import annotations

import os
from pathlib import Path

from raytune_hp.errors import ConfigError, preview

_NAME_MAX = 255  # bytes in one name: ext4, XFS, btrfs, APFS and NTFS alike
_PATH_SHOWN = 500  # a longer storage path is shown by its start


def check_storage(storage: str, name: str) -> None:
    """Raises unless ``<storage>/<name>`` is a folder that exists, or can be made, and written.

    Args:
        storage: the config's ``storage``: a folder, or a URI (only ``file://`` is checked).
        name: the experiment's name, the folder made inside ``storage``.

    Raises:
        ConfigError: the path holds a NUL byte, a part of it is a file, the nearest existing
            folder cannot be written or is on a read-only filesystem, or a name is too long.
    """
    scheme, sep, rest = storage.partition("://")
    if sep and scheme != "file":
        return
    given = rest if sep else storage
    if "\0" in given + name:
        problem: str | None = "it holds a NUL byte"
    else:
        problem = _problem(Path(given).expanduser() / name)
    if problem is not None:
        shown = repr(storage) if len(storage) <= _PATH_SHOWN else preview(storage)
        raise ConfigError(
            "storage must be a folder this process can write into (or make); got "
            f"{shown}, where {problem}"
        )


def _problem(target: Path) -> str | None:
    """Why ``target`` cannot be made and written, or ``None``."""
    target = target.absolute()
    # Before any lookup, which a name this long would fail with ENAMETOOLONG.
    long = [part for part in target.parts if len(os.fsencode(part)) > _NAME_MAX]
    if long:
        return f"the name {preview(long[0])} is longer than the {_NAME_MAX} bytes a name may have"
    existing = target
    while True:
        try:
            is_dir = existing.is_dir()
            exists = is_dir or existing.exists()
        except OSError as exc:  # a name too long, a loop of links
            return f"{existing} cannot be looked up ({exc.strerror or exc})"
        if exists:
            break
        existing = existing.parent
    if not is_dir:
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable by this process (permission denied)"
    try:
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        read_only = False
    if read_only:
        return f"{existing} is on a read-only filesystem"
    return None
