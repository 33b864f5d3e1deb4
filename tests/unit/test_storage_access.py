"""A storage folder that cannot hold the experiment is refused before Ray starts, with one line,
and checking it writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from raytune_hp.errors import ConfigError
from raytune_hp.storage_access import check_storage

RULE = "storage must be a folder this process can write into (or make); got "


def refusal(storage: str, name: str = "exp") -> str:
    with pytest.raises(ConfigError) as info:
        check_storage(storage, name)
    message = str(info.value)
    assert message.startswith(RULE) and "\n" not in message, message
    return message.removeprefix(RULE)


def test_a_folder_that_exists_or_can_be_made_is_accepted(tmp_path: Path) -> None:
    check_storage(str(tmp_path), "exp")
    check_storage(str(tmp_path / "a" / "b"), "exp")
    check_storage(f"file://{tmp_path}", "exp")
    check_storage("s3://bucket/runs", "exp")  # its client says whether it can be written
    assert list(tmp_path.iterdir()) == []  # looking wrote nothing


def test_a_path_through_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    storage = str(tmp_path / "file" / "runs")
    assert refusal(storage) == f"{storage!r}, where {tmp_path / 'file'} is not a folder"


def test_a_name_longer_than_the_filesystem_takes_is_refused(tmp_path: Path) -> None:
    message = refusal(str(tmp_path), "n" * 300)
    assert message.endswith("is longer than the 255 bytes a name may have"), message


def test_a_nul_byte_is_refused() -> None:
    assert refusal("runs\0x") == "'runs\\x00x', where it holds a NUL byte"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_folder_without_write_permission_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    message = refusal(str(locked / "runs"))
    assert message.endswith(f"{locked} is not writable by this process (permission denied)")


def test_a_read_only_filesystem_is_refused() -> None:
    read_only = next(
        (
            path
            for path in ("/proc/sys", "/sys")
            if os.path.isdir(path) and os.statvfs(path).f_flag & os.ST_RDONLY
        ),
        None,
    )
    if read_only is None:
        pytest.skip("no read-only filesystem mounted here")
    assert refusal(read_only).endswith("is on a read-only filesystem")
