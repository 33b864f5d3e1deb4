"""The strict YAML reader: a config file (or a ``--set`` value) as plain data, or one line that
says why not.

It is ``yaml.safe_load`` with three differences: ``1e-3`` is a number (YAML 1.1 reads it as a
string, and learning rates are written that way), a tag that would build anything but plain data
(``!!python/...``) is refused before anything is built, and a key given twice in one mapping is
refused instead of the last one silently winning.

Whatever a file holds, reading it is bounded in time and memory: a file must be a regular file
of at most :data:`MAX_CONFIG_BYTES` (a FIFO or a device would never end), UTF-8 (or UTF-16/32
with a byte-order mark); its nesting is at most :data:`MAX_DEPTH` deep, and what its aliases
expand to at most :data:`MAX_EXPANDED` (a "billion laughs" of nested aliases is small on disk
but exponential once built, or printed in a message). Each is refused with one line.

Example:
    >>> parse_yaml("lr: {low: 1e-4, high: 1.0e-2}", "")
    {'lr': {'low': 0.0001, 'high': 0.01}}
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.errors import PREVIEW_CHARS, ConfigError, preview

MAX_CONFIG_BYTES = 1 << 20
"""A config file's largest size (1 MiB): real ones are a few kilobytes."""
MAX_DEPTH = 50
"""How deep mappings and lists may nest (real configs: about 5)."""
MAX_EXPANDED = 2 * MAX_CONFIG_BYTES
"""The most that a YAML text may build, counted as one per mapping, list or scalar plus a
scalar's characters, every alias counted as what it stands for: about twice the text itself
without aliases, so only aliases that multiply what they refer to reach it."""
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``) and
    stops composing past :data:`MAX_DEPTH` levels (the composer recurses once a level)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _TooDeep(mark.line + 1)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


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
        ConfigError: The file cannot be read (missing, not a regular file, too large, not
            UTF-8), is not valid or plain YAML, gives a key twice, nests or expands beyond the
            bounds, or holds something other than a mapping.
    """
    if text is None:
        text = _read_text(path)
    elif len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: the config file must be at most {MAX_CONFIG_BYTES} bytes (1 MiB); got "
            f"{len(text)} characters"
        )
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


def _read_text(path: Path) -> str:
    """The file's text, refused before reading it when it is no regular file or too large."""

    def unreadable(reason: str) -> ConfigError:
        return ConfigError(f"{path}: the config file must be readable; got {reason}")

    try:
        # Non-blocking: opening a FIFO for reading must not wait for a writer; fstat then tells
        # what was opened, with no window between looking and opening.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise unreadable(exc.strerror or str(exc)) from None
    except ValueError as exc:  # a name with a NUL byte
        raise unreadable(str(exc)) from None
    try:
        mode = os.fstat(fd)
        kind = next((name for test, name in _KINDS if test(mode.st_mode)), None)
        if kind is not None:
            raise ConfigError(f"{path}: the config file must be a regular file; got {kind}")
        if mode.st_size > MAX_CONFIG_BYTES:
            raise _too_large(path, mode.st_size)
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise unreadable(exc.strerror or str(exc)) from None
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:  # a size that stat did not tell (/proc, a network file)
        raise _too_large(path, None)
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the config file must be text in UTF-8 (or UTF-16/32 with a byte-order "
            f"mark); got the byte 0x{data[exc.start]:02x} at offset {exc.start}, which is not "
            f"{encoding.upper().removesuffix('-SIG')}"
        ) from None


def _too_large(path: Path, size: int | None) -> ConfigError:
    got = f"{size} bytes" if size is not None else "more"
    return ConfigError(
        f"{path}: the config file must be at most {MAX_CONFIG_BYTES} bytes (1 MiB); got {got}"
    )


def parse_yaml(text: str, key: str) -> Any:
    """Plain YAML data: mappings, lists, strings, numbers, booleans, null and dates.

    Args:
        text: The YAML text.
        key: Where ``text`` sits in the config (``search.num_samples``), or ``""`` for a whole
            file; messages name it.

    Returns:
        The data, or ``None`` for an empty text.

    Raises:
        YAMLProblem: The text is not valid YAML, carries a tag other than plain data's, gives
            a key twice, is longer than :data:`MAX_CONFIG_BYTES`, nests deeper than
            :data:`MAX_DEPTH` or expands past :data:`MAX_EXPANDED` (aliases included), or holds
            a number or date Python cannot hold.
    """
    subject = key or "the file"
    if len(text) > MAX_CONFIG_BYTES:
        raise YAMLProblem(
            f"{subject} must be at most {MAX_CONFIG_BYTES} characters; got {len(text)}"
        )
    try:
        loader = _Loader(text)  # its reader refuses control characters right away
    except yaml.YAMLError as exc:
        raise YAMLProblem(f"{subject} must be valid YAML; got {_reader_problem(exc)}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_plain(node, key, set())
        _check_size(node, subject)
        _check_scalars(loader, node, key, set())
        return loader.construct_document(node)
    except _TooDeep as exc:
        raise YAMLProblem(
            f"{subject} must nest mappings and lists at most {MAX_DEPTH} deep; got deeper at "
            f"line {exc.line}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or _reader_problem(exc)
        raise YAMLProblem(f"{subject} must be valid YAML; got {problem}{where}") from None
    finally:
        loader.dispose()


def _reader_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML's reader refused (a control character), else that the text is unparsable."""
    if isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        return f"the control character #x{exc.character:04x} at position {exc.position}"
    return "unparsable"


def _check_size(root: yaml.Node, subject: str) -> None:
    """Refuses a document whose aliases refer to themselves, or expand it past
    :data:`MAX_EXPANDED` or :data:`MAX_DEPTH`, before anything is built.

    Each node is measured once (an alias reuses its node's measure), in document order, so the
    work is linear in the text: a node an alias names was defined before it, so it is either
    measured already or one of the nodes being measured (then the alias is a cycle).
    """
    measured: dict[int, tuple[int, int]] = {}  # id -> (expanded size, depth)
    active: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        known = measured.get(id(node))
        if known is not None:
            return known
        if id(node) in active:
            raise YAMLProblem(
                f"{subject} must not refer to itself through an alias; got one at line "
                f"{node.start_mark.line + 1}"
            )
        if isinstance(node, yaml.ScalarNode):
            measured[id(node)] = (1 + len(node.value), 1)
            return measured[id(node)]
        active.add(id(node))
        children = (
            [part for pair in node.value for part in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        size, depth = 1, 1
        for child in children:
            child_size, child_depth = measure(child)
            size, depth = size + child_size, max(depth, child_depth + 1)
            if size > MAX_EXPANDED:
                raise YAMLProblem(
                    f"{subject} must expand to at most {MAX_EXPANDED} values and characters "
                    f"(aliases count as what they repeat); got more, from line "
                    f"{node.start_mark.line + 1}"
                )
        if depth > MAX_DEPTH:
            raise YAMLProblem(
                f"{subject} must nest mappings and lists at most {MAX_DEPTH} deep (aliases "
                f"count as what they repeat); got {depth} at line {node.start_mark.line + 1}"
            )
        active.discard(id(node))
        measured[id(node)] = (size, depth)
        return measured[id(node)]

    measure(root)


def _check_scalars(loader: _Loader, node: yaml.Node, key: str, seen: set[int]) -> None:
    """Builds each number and date once, refusing one that Python cannot hold (an integer of
    more than 4,300 digits, the 13th month) with its key, rather than failing while building."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        kind = {"int": "an integer", "float": "a number", "timestamp": "a date"}.get(
            node.tag.rpartition(":")[2]
        )
        if kind is None:
            return
        try:
            loader.construct_object(node)
        except (ValueError, OverflowError) as exc:
            reason = str(exc).partition(":")[0]
            raise YAMLProblem(
                f"{key or 'the file'} must be {kind} Python can hold; got {preview(node.value)} at "
                f"line {node.start_mark.line + 1} ({reason})"
            ) from None
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = _child(key, name)
            _check_scalars(loader, key_node, child, seen)
            _check_scalars(loader, value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_scalars(loader, item, f"{key}[{index}]", seen)


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
            child = _child(key, name)
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


def _child(key: str, name: str | None) -> str:
    """The dotted key of ``name`` inside ``key``, a long name cut as messages quote values."""
    name = str(name)
    if len(name) > PREVIEW_CHARS:
        name = f"{name[:PREVIEW_CHARS]}…"
    return f"{key}.{name}" if key else name


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
