"""The strict YAML reader: a config file (or a ``--set`` value) as plain data, or one line that
says why not.

It is ``yaml.safe_load`` with three differences: ``1e-3`` is a number (YAML 1.1 reads it as a
string, and learning rates are written that way), a tag that would build anything but plain data
(``!!python/...``) is refused before anything is built, and a key given twice in one mapping is
refused instead of the last one silently winning.

Example:
    >>> parse_yaml("lr: {low: 1e-4, high: 1.0e-2}", "")
    {'lr': {'low': 0.0001, 'high': 0.01}}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
# Safe: a SafeLoader builds only plain data (mappings, lists, strings, numbers, booleans, null,
# dates), never Python objects; any other tag (!!python/object/apply:...) is refused by
# _check_plain before anything is built.
_PLAIN_TAGS = frozenset(tag for tag in _Loader.yaml_constructors if tag) | {
    "tag:yaml.org,2002:merge"  # `<<: *anchor`, merged by the loader itself
}


class YAMLProblem(Exception):
    """Why a YAML text was refused, in the error grammar but without the file's name."""


def read_yaml(path: Path, text: str | None = None) -> dict[str, Any]:
    """The mapping a config file holds.

    Args:
        path: The config file; with ``text`` given, it only names the file in messages.
        text: The file's content, when it was read elsewhere (from shared storage).

    Returns:
        The file's top-level mapping, as plain data.

    Raises:
        ConfigError: The file cannot be read, is not valid or plain YAML, gives a key twice, or
            holds something other than a mapping.
    """
    try:
        text = path.read_text() if text is None else text
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{path}: the config file must be readable; got {reason}") from None
    try:
        raw = parse_yaml(text, "")
    except YAMLProblem as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if raw is None:
        raise ConfigError(
            f"{path}: the file must be a YAML mapping of keys to values; got an empty file"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the file must be a YAML mapping of keys to values; got a {_type_name(raw)}"
        )
    return raw


def parse_yaml(text: str, key: str) -> Any:
    """Plain YAML data: mappings, lists, strings, numbers, booleans, null and dates.

    Args:
        text: The YAML text.
        key: Where ``text`` sits in the config (``search.num_samples``), or ``""`` for a whole
            file; messages name it.

    Returns:
        The data, or ``None`` for an empty text.

    Raises:
        YAMLProblem: The text is not valid YAML, carries a tag other than plain data's, or gives
            a key twice.
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_plain(node, key, set())
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "unparsable"
        subject = key or "the file"
        raise YAMLProblem(f"{subject} must be valid YAML; got {problem}{where}") from None
    finally:
        loader.dispose()


def _check_plain(node: yaml.Node, key: str, seen: set[int]) -> None:
    """Refuses tags that would build anything but plain data, and keys given twice."""
    if id(node) in seen:  # an alias of a node already checked
        return
    seen.add(id(node))
    subject = key or "the file"
    line = node.start_mark.line + 1
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise YAMLProblem(
            f"{subject} must be plain YAML data, without tags such as !!python/... (they "
            f"construct Python objects and are not allowed); got the tag {tag} at line {line}"
        )
    if isinstance(node, yaml.MappingNode):
        firsts: dict[Any, int] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = f"{key}.{name}" if key else str(name)
            if name is not None and name in firsts and key_node.tag != "tag:yaml.org,2002:merge":
                raise YAMLProblem(
                    f"{child} must be given once; got it twice (lines {firsts[name]} and "
                    f"{key_node.start_mark.line + 1})"
                )
            if name is not None:
                firsts[name] = key_node.start_mark.line + 1
            _check_plain(key_node, child, seen)
            _check_plain(value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_plain(item, f"{key}[{index}]", seen)


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
