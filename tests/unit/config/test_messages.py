"""Pydantic's errors as one line each: ``<file>: <key> must <rule>; got <value>``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raytune_hp.config import ExperimentConfig, config_from
from raytune_hp.config.messages import describe
from raytune_hp.errors import ConfigError

# --- unknown keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "where", "hint"),
    [
        ("nmae: x\n", "nmae", "at the top level", "name"),
        ("search:\n  num_sample: 4\n", "search.num_sample", "in search", "num_samples"),
        ("early_stopping:\n  grace: 1\n", "early_stopping.grace", "in early_stopping", None),
    ],
    ids=["top-level", "nested", "nested-no-close-match"],
)
def test_a_typo_in_a_key_is_refused_and_the_right_key_suggested(
    tmp_path: Path,
    text: str,
    key: str,
    where: str,
    hint: str | None,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    typo = key.rsplit(".", 1)[-1]
    assert message.startswith(f"{path}: {key} is not a known key; keys {where} must be one of ")
    assert message.endswith(f"; got {typo!r}")
    if hint is not None:
        assert f"(did you mean {hint}?)" in message
    else:
        assert "did you mean" not in message


# --- wrong types and impossible values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "rule", "given"),
    [
        ("search:\n  num_samples: '4'\n", "search.num_samples", "be an integer", "'4'"),
        ("search:\n  num_samples: true\n", "search.num_samples", "be an integer", "True"),
        ("train:\n  max_epochs: 2.5\n", "train.max_epochs", "be an integer", "2.5"),
        ("search: [1, 2]\n", "search", "be a mapping of keys to values", "[1, 2]"),
        ("early_stopping:\n  reduction_factor: '3'\n", "early_stopping.reduction_factor",
         "be a number", "'3'"),
        ("space: [1]\n", "space", "be a mapping", "[1]"),
        ("name: 'a b'\n", "name", "be a name of letters, digits", "'a b'"),
        ("search:\n  num_samples: 0\n", "search.num_samples", "be ≥ 1", "0"),
        ("data:\n  val_fraction: 1.5\n", "data.val_fraction", "be < 1", "1.5"),
        ("data:\n  val_fraction: 0\n", "data.val_fraction", "be > 0", "0"),
        ("early_stopping:\n  reduction_factor: 1\n", "early_stopping.reduction_factor",
         "be a number > 1 or auto", "1"),
        ("early_stopping:\n  grace_period: aut\n", "early_stopping.grace_period",
         "be a whole number of epochs ≥ 1 or auto", "'aut'"),
        ("seed: -1\n", "seed", "be ≥ 0", "-1"),
    ],
    ids=["str-for-int", "bool-for-int", "float-for-int", "list-for-mapping", "str-for-number",
         "list-for-space", "bad-name", "num_samples-0", "val_fraction-1.5", "val_fraction-0",
         "reduction_factor-1", "grace-typo", "negative-seed"],
)  # fmt: skip
def test_a_wrong_type_or_impossible_value_names_key_rule_and_value(
    tmp_path: Path,
    text: str,
    key: str,
    rule: str,
    given: str,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
    assert_grammar: Callable[..., None],
) -> None:
    path = write_config(tmp_path, text)
    assert_grammar(config_error(path), path, key, rule, given)


@pytest.mark.parametrize(
    ("text", "key", "valid", "given"),
    [
        (
            "search:\n  strategy: hyperband\n",
            "search.strategy",
            ["'grid'", "'random'", "'bayes'", "'coarse-to-fine'"],
            "'hyperband'",
        ),
        ("model:\n  name: vit\n", "model.name", ["'cnn'", "'rnn'", "'transformer'"], "'vit'"),
        ("early_stopping:\n  name: median\n", "early_stopping.name", ["'asha'", "'none'"],
         "'median'"),
        ("train:\n  metric: acc\n", "train.metric", ["'val_acc'", "'val_loss'"], "'acc'"),
    ],
    ids=["strategy", "model", "early-stopping", "metric"],
)  # fmt: skip
def test_an_unknown_name_lists_the_valid_ones(
    tmp_path: Path,
    text: str,
    key: str,
    valid: list[str],
    given: str,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
    assert_grammar: Callable[..., None],
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    assert_grammar(message, path, key, "be one of", given)
    for name in valid:
        assert name in message


@pytest.mark.parametrize(
    ("text", "key", "given", "hint"),
    [
        ("search:\n  strategy: Bayes\n", "search.strategy", "'Bayes'", "bayes"),
        ("search:\n  strategy: random_search\n", "search.strategy", "'random_search'", "random"),
        ("model:\n  name: CNN\n", "model.name", "'CNN'", "cnn"),
        ("model:\n  tables: [cnn, Tricks]\n", "model.tables.1", "'Tricks'", "tricks"),
        ("train:\n  precision: BF16\n", "train.precision", "'BF16'", "bf16"),
        ("early_stopping:\n  name: ASHA\n", "early_stopping.name", "'ASHA'", "asha"),
    ],
    ids=["case", "typo", "model", "list-item", "precision", "early-stopping"],
)  # fmt: skip
def test_a_misspelled_name_is_answered_with_the_closest_choice(
    tmp_path: Path,
    text: str,
    key: str,
    given: str,
    hint: str,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
) -> None:
    path = write_config(tmp_path, text)
    message = config_error(path)
    assert message.startswith(f"{path}: {key} must be one of '")
    assert message.endswith(f"; got {given} (did you mean {hint}?)")


def test_a_key_in_another_case_is_answered_with_the_key() -> None:
    line = first_problem(ExperimentConfig, {"name": "x", "search": {"Strategy": "bayes"}})
    assert "(did you mean strategy?); got 'Strategy'" in line


# --- describe, one line for each kind of pydantic error ----------------------------------------


def first_problem(model: type[BaseModel], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return describe(info.value)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"name": "x", "seeds": 1},
         "seeds is not a known key; keys at the top level must be one of name, seed, storage, "
         "shared_storage, data, model, train, space, search, early_stopping, resources "
         "(did you mean seed?); got 'seeds'"),
        ({"name": "x", "early_stopping": {"grace": 1}},
         "early_stopping.grace is not a known key; keys in early_stopping must be one of name, "
         "grace_period, reduction_factor; got 'grace'"),
        ({}, "name must be given; got nothing"),
        ({"name": "x", "resources": {"gpus_per_trial": 1.5}},
         "resources.gpus_per_trial must be a fraction of one GPU (≤ 1) or a whole number of "
         "GPUs; got 1.5"),
        ({"name": "x", "seed": -1}, "seed must be ≥ 0; got -1"),
        ({"name": "x", "data": {"val_fraction": 0}}, "data.val_fraction must be > 0.0; got 0"),
        ({"name": "x", "data": {"val_fraction": 1}}, "data.val_fraction must be < 1.0; got 1"),
        ({"name": "x", "search": {"strategy": "hyperband"}},
         "search.strategy must be one of 'grid', 'random', 'bayes' or 'coarse-to-fine'; "
         "got 'hyperband'"),
        ({"name": "x", "search": {"strategy": "Bayes"}},
         "search.strategy must be one of 'grid', 'random', 'bayes' or 'coarse-to-fine'; "
         "got 'Bayes' (did you mean bayes?)"),
        ({"name": "x", "seed": "1"}, "seed must be an integer; got '1'"),
        ({"name": "x", "data": {"val_fraction": "0.2"}},
         "data.val_fraction must be a number; got '0.2'"),
        ({"name": "x", "storage": 3}, "storage must be a string; got 3"),
        ({"name": "x", "shared_storage": "yes"}, "shared_storage must be true or false; got 'yes'"),
        ({"name": "x", "space": [1]}, "space must be a mapping; got [1]"),
        ({"name": "x", "search": [1]}, "search must be a mapping of keys to values; got [1]"),
        ({"name": "x", "search": {"warm_start": "runs/old"}},
         "search.warm_start must be a list; got 'runs/old'"),
        ({"name": "x", "model": {"builder": "build"}},
         "model.builder must be an import path, package.module:function; got 'build'"),
        ({"name": "a b"}, "name must be a name of letters, digits, '.', '_' or '-'; got 'a b'"),
    ],
    ids=["unknown-key", "unknown-key-no-close-match", "missing", "a-validator's-own",
         "greater-than-equal", "greater-than", "less-than", "literal", "literal-close", "int",
         "float", "string", "bool", "dict", "model", "list", "import-path-pattern",
         "name-pattern"],
)  # fmt: skip
def test_each_kind_of_error_in_a_config_is_one_line_of_the_grammar(
    data: dict[str, Any], line: str
) -> None:
    assert first_problem(ExperimentConfig, data) == line


class Probe(BaseModel):
    """Kinds of error the config's own fields cannot produce today."""

    model_config = ConfigDict(strict=True)
    at_most_3: int = Field(0, le=3)
    finite: float = Field(0.0, allow_inf_nan=False)
    pair: tuple[int, int] = (0, 0)
    two: list[int] = Field([1, 2], min_length=2)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"at_most_3": 4}, "at_most_3 must be ≤ 3; got 4"),
        ({"finite": float("inf")}, "finite must be a finite number; got inf"),
        ({"pair": [1, 2]}, "pair must be a valid tuple; got [1, 2]"),  # "Input should be ..."
        ({"two": [1]},
         "two must be valid (List should have at least 2 items after validation, not 1); "
         "got [1]"),
    ],
    ids=["less-than-equal", "finite-number", "pydantic's-own-rule", "pydantic's-own-message"],
)  # fmt: skip
def test_other_kinds_of_error_keep_the_grammar(data: dict[str, Any], line: str) -> None:
    assert first_problem(Probe, data) == line


def test_only_the_first_problem_is_described() -> None:
    line = first_problem(ExperimentConfig, {"name": "x", "seed": -1, "storage": 3})
    assert line == "seed must be ≥ 0; got -1"


@pytest.mark.parametrize(
    ("key", "value", "given"),
    [
        ("name", "n" * 100_000 + "/", "got '" + "n" * 60 + "'…"),
        ("seed", 10**5000, "got an integer of about 5000 digits"),
        ("seed", 2**32, "seed must be ≤ 4294967295; got 4294967296"),
        ("storage", ["x"] * 100_000, "got ['x', 'x', 'x', 'x', 'x', 'x', …]"),
        ("data", {"val_fraction": "f" * 5000}, "got '" + "f" * 60 + "'…"),
    ],
    ids=["long-string", "huge-integer", "seed-above-32-bits", "long-list", "nested-string"],
)
def test_a_value_given_is_quoted_briefly(key: str, value: object, given: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from({key: value} if key == "name" else {"name": "x", key: value})
    message = str(info.value)
    assert message.endswith(given), message[-300:]
    assert len(message) < 300, message
