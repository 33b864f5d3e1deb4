"""``--set KEY=VALUE``: one change to a config's data before it is validated.

``KEY`` is dotted (``search.num_samples``) and missing mappings on its way are made; ``VALUE`` is
read as YAML by the strict reader, so ``4`` is a number, ``[adam, sgd]`` a list and ``1e-3`` a
number too, and an empty value is null. The result is validated with the file like any other
value, so a typo in ``KEY`` is refused there.

Example:
    >>> raw = {"search": {"strategy": "random"}}
    >>> apply_override(raw, "search.num_samples=4")
    >>> apply_override(raw, "space.optimizer=[adam, sgd]")
    >>> raw
    {'search': {'strategy': 'random', 'num_samples': 4}, 'space': {'optimizer': ['adam', 'sgd']}}
"""

from __future__ import annotations

import re
from typing import Any

from raytune_hp.config.yaml_reader import YAMLProblem, parse_yaml
from raytune_hp.errors import ConfigError, preview


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Sets one dotted key of a config's data, in place.

    Args:
        raw: The config's data as read from its file (plain mappings).
        item: ``KEY=VALUE``, as given to ``--set``.

    Raises:
        ConfigError: ``item`` is no ``KEY=VALUE``, its value is not plain YAML, or a key on the
            way to ``KEY`` holds a value rather than a mapping.
    """
    key, sep, text = item.partition("=")
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
        raise ConfigError(f"--set must be KEY=VALUE with a dotted KEY; got {preview(item)}")
    try:
        value = parse_yaml(text, key) if text else None
    except YAMLProblem as exc:
        raise ConfigError(f"--set {exc}") from None
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(
                f"--set {key}: {part} must be a mapping to set keys in; got {preview(child)}"
            )
        node = child
    node[parts[-1]] = value
