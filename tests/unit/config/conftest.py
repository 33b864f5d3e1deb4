"""Helpers the config tests share: a config file written into a folder, the one-line message
:func:`load_config` refuses it with, and the check of that line against the error grammar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from raytune_hp.config import load_config
from raytune_hp.errors import ConfigError


def _write_config(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _config_error(path: Path, overrides: list[str] | None = None) -> str:
    """The message ``load_config`` refuses ``path`` with, checked to be one line."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    message = str(info.value)
    assert "\n" not in message, message
    return message


def _assert_grammar(message: str, path: Path, key: str, rule: str, given: str) -> None:
    assert message.startswith(f"{path}: {key} must "), message
    assert f" must {rule}" in message, message
    assert message.endswith(f"; got {given}"), message


@pytest.fixture(scope="session")
def write_config() -> Callable[..., Path]:
    """``write_config(folder, text, name="exp.yaml")`` writes a config file and returns its path."""
    return _write_config


@pytest.fixture(scope="session")
def config_error() -> Callable[..., str]:
    """``config_error(path, overrides=None)``: the line ``load_config`` refuses ``path`` with."""
    return _config_error


@pytest.fixture(scope="session")
def assert_grammar() -> Callable[[str, Path, str, str, str], None]:
    """``assert_grammar(message, path, key, rule, given)``: ``<path>: <key> must <rule>...; got
    <given>``."""
    return _assert_grammar
