"""The strict YAML reader: numbers as learning rates are written, and a file that is not a
readable YAML mapping refused with one line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from raytune_hp.config import load_config


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
