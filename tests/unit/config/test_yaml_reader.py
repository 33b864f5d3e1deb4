"""The strict YAML reader: numbers as learning rates are written, and a file that is not a
readable YAML mapping refused with one line."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from raytune_hp.config import load_config
from raytune_hp.config.yaml_reader import read_yaml
from raytune_hp.errors import ConfigError


def test_exponent_notation_is_read_as_a_number(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    # Plain PyYAML reads `1e-3` as a string; learning rates are written that way.
    text = "data:\n  val_fraction: 2e-1\nspace:\n  optimizer: adam\n  lr: {low: 1e-3, high: 5e-3}\n"
    config = load_config(write_config(tmp_path, text))
    assert config.data.val_fraction == 0.2
    assert config.search_space().lr_range("adam") == (1e-3, 5e-3)


# --- the file itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule", "given"),
    [
        ("", "be a YAML mapping of keys to values", "an empty file"),
        ("- a\n- b\n", "be a YAML mapping of keys to values", "a list"),
        ("search: {num_samples: 4\n", "be valid YAML", "at line 2"),
    ],
    ids=["empty", "a-list", "invalid-syntax"],
)
def test_a_file_that_is_not_a_mapping_is_refused(
    tmp_path: Path,
    text: str,
    rule: str,
    given: str,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    assert message.startswith(f"{path}: the file must {rule}; got ")
    assert message.endswith(given)


def test_a_missing_file_is_refused(tmp_path: Path, config_error: Callable[..., str]) -> None:
    path = tmp_path / "nope.yaml"
    message = config_error(path)
    assert message == f"{path}: the config file must be readable; got No such file or directory"


# --- hostile files: bounded in time and memory, one line each ---------------------------------


def _bomb(levels: int, width: int = 9) -> str:
    """A "billion laughs": each anchor a list of ``width`` aliases of the one before."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nname: *a{levels - 1}\n"


NESTED_40 = "[" * 40 + "{0}" + "]" * 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("space: " + "[" * 5000 + "]" * 5000 + "\n", "the file must nest mappings and lists at "
         "most 50 deep; got deeper at line 1"),
        ("a: &a " + NESTED_40.format(1) + "\nb: " + NESTED_40.format("*a") + "\n",
         "the file must nest mappings and lists at most 50 deep (aliases count as what they "
         "repeat); got 51 at line 2"),
        (_bomb(9), "the file must expand to at most 2097152 values and characters (aliases count "
         "as what they repeat); got more, from line 6"),
        ("name: &a [x, *a]\n", "the file must not refer to itself through an alias; got one at "
         "line 1"),
        ("seed: 1" + "0" * 5000 + "\n", "seed must be an integer Python can hold; got "
         "'100000000000000000000000000000000000000000000000000000000000'… at line 1 (Exceeds "
         "the limit (4300 digits) for integer string conversion)"),
        ("seed: 2024-13-45\n", "seed must be a date Python can hold; got '2024-13-45' at line 1 "
         "(month must be in 1..12)"),
        ('name: "x\x01"\n', "the file must be valid YAML; got the control character #x0001 "
         "at position 8"),
    ],
    ids=["deep", "deep-through-aliases", "alias-bomb", "alias-cycle", "huge-integer", "bad-date",
         "control-character"],
)  # fmt: skip
def test_a_hostile_text_is_refused_quickly(
    tmp_path: Path,
    text: str,
    expected: str,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
) -> None:
    path = write_config(tmp_path, text)
    started = time.perf_counter()
    assert config_error(path) == f"{path}: {expected}"
    assert time.perf_counter() - started < 2


def test_an_alias_bomb_in_a_scalar_field_is_quoted_briefly(
    tmp_path: Path, write_config: Callable[..., Path], config_error: Callable[..., str]
) -> None:
    # Small enough to be built (9**5 strings), far too large to print whole in a message.
    message = config_error(write_config(tmp_path, _bomb(5)))
    assert message.startswith(f"{tmp_path / 'exp.yaml'}: name must be a string; got [[[[…], ")
    assert len(message) < 250


def test_a_file_larger_than_1_mib_is_refused_before_it_is_read(
    tmp_path: Path, config_error: Callable[..., str]
) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as file:  # sparse: 10 GiB that are never read
        file.truncate(10 * 2**30)
    started = time.perf_counter()
    assert config_error(path) == (
        f"{path}: the config file must be at most 1048576 bytes (1 MiB); got 10737418240 bytes"
    )
    assert time.perf_counter() - started < 1


def test_text_larger_than_1_mib_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"must be at most 1048576 bytes \(1 MiB\); got 2000000"):
        read_yaml(tmp_path / "x.yaml", "#" * 2_000_000)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    ("make", "given"),
    [
        (Path.mkdir, "must be a regular file; got a directory"),
        (_fifo, "must be a regular file; got a FIFO (named pipe)"),
        (lambda path: path.symlink_to("/dev/zero"), "must be a regular file; got a character "
         "device"),
        (lambda path: path.write_bytes(b"name: caf\xe9\n"), "must be text in UTF-8 (or UTF-16/32 "
         "with a byte-order mark); got the byte 0xe9 at offset 9, which is not UTF-8"),
        (lambda path: path.write_bytes(bytes(range(1, 128))), "must be valid YAML; got the "
         "control character #x0001 at position 0"),
    ],
    ids=["directory", "fifo", "device", "latin-1", "binary"],
)  # fmt: skip
def test_an_unreadable_config_file_is_refused(
    tmp_path: Path, make: Callable[[Path], object], given: str, config_error: Callable[..., str]
) -> None:
    path = tmp_path / "exp.yaml"
    make(path)
    message = config_error(path)
    assert message.startswith(f"{path}: "), message
    assert message.endswith(given), message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_config_file_without_read_permission_is_refused(
    tmp_path: Path, write_config: Callable[..., Path], config_error: Callable[..., str]
) -> None:
    path = write_config(tmp_path, "seed: 1\n")
    path.chmod(0)
    assert config_error(path) == f"{path}: the config file must be readable; got Permission denied"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_a_file_with_a_byte_order_mark_is_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "exp.yaml"
    path.write_bytes("name: cafe\nseed: 3\n".encode(encoding))
    assert load_config(path).seed == 3


def test_a_path_that_cannot_be_opened_is_refused_with_the_reason(
    tmp_path: Path, config_error: Callable[..., str]
) -> None:
    (tmp_path / "file").write_text("x")
    below_a_file = tmp_path / "file" / "exp.yaml"
    assert config_error(below_a_file) == (
        f"{below_a_file}: the config file must be readable; got Not a directory"
    )
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    assert config_error(loop) == (
        f"{loop}: the config file must be readable; got Too many levels of symbolic links"
    )
