"""``--set KEY=VALUE``: dotted keys, values read as YAML, and the line a bad one is refused with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import load_config
from raytune_hp.config.overrides import apply_override
from raytune_hp.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "configs" / "quickstart.yaml"


# --- --set overrides ---------------------------------------------------------------------------


def test_set_overrides_a_nested_key_with_a_typed_value() -> None:
    config = load_config(QUICKSTART, ["search.num_samples=4", "space.dropout=0.25"])
    assert config.search.num_samples == 4
    assert config.space["dropout"] == 0.25
    assert config.search_space()["dropout"].fixed


@pytest.mark.parametrize("item", ["search.num_samples", "=3", "search num_samples=3"])
def test_a_set_without_key_equals_value_is_refused(
    item: str, config_error: Callable[..., str]
) -> None:
    message = config_error(QUICKSTART, [item])
    assert message == f"--set must be KEY=VALUE with a dotted KEY; got {item!r}"


def test_a_set_value_is_validated_like_the_file(
    tmp_path: Path, config_error: Callable[..., str], assert_grammar: Callable[..., None]
) -> None:
    assert_grammar(
        config_error(QUICKSTART, ["seed=abc"]), QUICKSTART, "seed", "be an integer", "'abc'"
    )
    message = config_error(QUICKSTART, ["search.num_sample=4"])
    assert message.startswith(f"{QUICKSTART}: search.num_sample is not a known key;")
    assert "(did you mean num_samples?)" in message


def test_a_set_below_a_value_is_refused(config_error: Callable[..., str]) -> None:
    message = config_error(QUICKSTART, ["seed.x=1"])
    assert message == "--set seed.x: seed must be a mapping to set keys in; got 0"


# --- apply_override on its own ---------------------------------------------------------------


def test_a_dotted_key_sets_a_nested_value_and_makes_the_mappings_on_its_way() -> None:
    raw: dict[str, Any] = {"seed": 1, "search": {"strategy": "random"}}
    apply_override(raw, "search.num_samples=4")
    apply_override(raw, "space.lr.low=1e-4")
    apply_override(raw, "seed=2")
    assert raw == {
        "seed": 2,
        "search": {"strategy": "random", "num_samples": 4},
        "space": {"lr": {"low": 1e-4}},
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("4", 4),
        ("0.25", 0.25),
        ("1e-3", 1e-3),  # a number, as in a config file
        ("true", True),
        ("'4'", "4"),
        ("adam", "adam"),
        ("[adam, sgd]", ["adam", "sgd"]),
        ("{low: 32, high: 256}", {"low": 32, "high": 256}),
        ("", None),
    ],
    ids=["int", "float", "exponent", "bool", "quoted", "string", "list", "mapping", "empty"],
)
def test_a_value_is_read_as_yaml(text: str, value: Any) -> None:
    raw: dict[str, Any] = {}
    apply_override(raw, f"space.x={text}")
    assert raw == {"space": {"x": value}}
    assert type(raw["space"]["x"]) is type(value)


@pytest.mark.parametrize(
    ("raw", "item", "message"),
    [
        ({"seed": 0}, "seed.x=1", "--set seed.x: seed must be a mapping to set keys in; got 0"),
        (
            {"search": {"num_samples": 4}},
            "search.num_samples.low=1",
            "--set search.num_samples.low: num_samples must be a mapping to set keys in; got 4",
        ),
        (
            {"space": {"optimizer": ["adam"]}},
            "space.optimizer.x=1",
            "--set space.optimizer.x: optimizer must be a mapping to set keys in; got ['adam']",
        ),
    ],
    ids=["top-level", "nested", "a-list"],
)
def test_a_key_below_a_value_that_is_no_mapping_is_refused(
    raw: dict[str, Any], item: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        apply_override(raw, item)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("seed", "--set must be KEY=VALUE with a dotted KEY; got 'seed'"),
        ("=1", "--set must be KEY=VALUE with a dotted KEY; got '=1'"),
        ("1seed=1", "--set must be KEY=VALUE with a dotted KEY; got '1seed=1'"),
        ("search-x=1", "--set must be KEY=VALUE with a dotted KEY; got 'search-x=1'"),
        (
            "space.optimizer=[adam, sgd",
            "--set space.optimizer must be valid YAML; got expected ',' or ']', but got "
            "'<stream end>' at line 1",
        ),
        (
            "seed=!!python/object/apply:os.system [echo]",
            "--set seed must be plain YAML data, without tags such as !!python/... (they "
            "construct Python objects and are not allowed); got the tag "
            "!!python/object/apply:os.system at line 1",
        ),
        ("seed={a: 1, a: 2}", "--set seed.a must be given once; got it twice (lines 1 and 1)"),
    ],
    ids=["no-equals", "no-key", "key-from-a-digit", "key-with-a-dash", "invalid-yaml",
         "python-tag", "key-twice"],
)  # fmt: skip
def test_an_item_that_is_not_key_equals_plain_yaml_is_refused(item: str, message: str) -> None:
    raw: dict[str, Any] = {"seed": 1}
    with pytest.raises(ConfigError) as info:
        apply_override(raw, item)
    assert str(info.value) == message
    assert raw == {"seed": 1}
