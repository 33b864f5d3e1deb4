"""``search.budget``: the forms it may take, one line for each mistake, and what it makes of
``search.num_samples`` (a cap only where given), kept when the config is written and read back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from raytune_hp.budget import trial_cap
from raytune_hp.config import config_from, load_config

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


@pytest.mark.parametrize(
    ("written", "unit", "amount", "said"),
    [
        ("{epochs: 400}", "epochs", 400, "400 epochs"),
        ("400 epochs", "epochs", 400, "400 epochs"),
        ("1 epoch", "epochs", 1, "1 epoch"),
        ("{minutes: 30}", "seconds", 1800, "30 minutes"),
        ("90 min", "seconds", 5400, "90 minutes"),
        ("{hours: 2}", "seconds", 7200, "2 hours"),
        ("1.5 hours", "seconds", 5400, "1.5 hours"),
        ("2h", "seconds", 7200, "2 hours"),
        ("{minutes: 0.5}", "seconds", 30, "0.5 minutes"),
    ],
)
def test_a_budget_reads_as_a_mapping_or_as_words(
    written: str, unit: str, amount: float, said: str
) -> None:
    overrides = [f"search.budget={written}", "train.max_epochs=1", "early_stopping.name=none"]
    config = load_config(QUICKSTART, overrides)
    budget = config.search.budget
    assert budget is not None
    assert (budget.unit, budget.amount, str(budget)) == (unit, amount, said)


def test_no_budget_is_the_default_and_counts_trials() -> None:
    config = load_config(QUICKSTART)
    assert config.search.budget is None
    assert trial_cap(config) == config.search.num_samples == 24


@pytest.mark.parametrize(
    ("text", "key", "rule", "given"),
    [
        ("budget: 400", "search.budget", "be one of {epochs: 400}, {minutes: 30} or", "400"),
        ("budget: lots", "search.budget", "be one of {epochs: 400}", "'lots'"),
        ("budget: {}", "search.budget", "name exactly one of epochs, minutes, hours", "{}"),
        (
            "budget: {epochs: 400, hours: 1}",
            "search.budget",
            "name exactly one of epochs, minutes, hours",
            "epochs and hours",
        ),
        ("budget: {epochs: 0}", "search.budget.epochs", "be ≥ 1", "0"),
        ("budget: {epochs: 40.5}", "search.budget.epochs", "be an integer", "40.5"),
        ("budget: 40.5 epochs", "search.budget.epochs", "be an integer", "40.5"),
        ("budget: {epochs: '400'}", "search.budget.epochs", "be an integer", "'400'"),
        ("budget: {minutes: -5}", "search.budget.minutes", "be > 0", "-5"),
        ("budget: -5 minutes", "search.budget.minutes", "be > 0", "-5"),
        ("budget: {hours: .nan}", "search.budget.hours", "be a finite number", "nan"),
        ("budget: 10 epochs", "search.budget", "pay for one whole trial: at least", "10 epochs"),
    ],
)
def test_each_mistake_is_one_line_in_the_grammar(
    tmp_path: Path,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
    assert_grammar: Callable[..., None],
    text: str,
    key: str,
    rule: str,
    given: str,
) -> None:
    path = write_config(tmp_path, f"train: {{max_epochs: 18}}\nsearch:\n  {text}\n")
    assert_grammar(config_error(path), path, key, rule, given)


def test_a_budget_below_one_trial_names_the_trials_epochs(
    tmp_path: Path, write_config: Callable[..., Path], config_error: Callable[..., str]
) -> None:
    path = write_config(tmp_path, "train: {max_epochs: 18}\nsearch: {budget: 10 epochs}\n")
    assert "at least train.max_epochs (18) epochs; got 10 epochs" in config_error(path)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("budget: 30 mins", None),
        ("budget: 30 secs", "search.budget must name its unit, one of epochs, minutes, hours; "
         "got 'secs' in '30 secs'"),
        ("budget: 400 epoks", "got 'epoks' in '400 epoks' (did you mean epochs?)"),
        ("budget: {epoch: 400}", "search.budget.epoch is not a known key; keys in search.budget "
         "must be one of epochs, minutes, hours (did you mean epochs?); got 'epoch'"),
    ],
)  # fmt: skip
def test_a_unit_misspelled_is_named_with_the_closest_one(
    tmp_path: Path,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
    text: str,
    says: str | None,
) -> None:
    path = write_config(tmp_path, f"search:\n  {text}\n")
    if says is None:  # a usual short form
        assert load_config(path).search.budget is not None
    else:
        assert says in config_error(path)


def test_under_a_budget_num_samples_caps_only_where_given() -> None:
    open_ended = config_from({"name": "x", "search": {"budget": "400 epochs"}})
    capped = config_from({"name": "x", "search": {"budget": "400 epochs", "num_samples": 60}})
    assert (trial_cap(open_ended), trial_cap(capped)) == (None, 60)


@pytest.mark.parametrize(
    ("search", "unit"),
    [({"budget": "400 epochs"}, "epochs"), ({"budget": "2 hours", "num_samples": 9}, "hours")],
)
def test_the_config_as_written_reads_back_the_same(search: dict[str, object], unit: str) -> None:
    config = config_from({"name": "x", "search": search})
    written = yaml.safe_load(config.to_yaml())
    assert ("num_samples" in written["search"]) == ("num_samples" in search)
    assert list(written["search"]["budget"]) == [unit]  # its own unit, no nulls beside it
    again = config_from(written)
    assert again == config and trial_cap(again) == trial_cap(config)


def test_without_a_budget_the_written_config_keeps_num_samples() -> None:
    written = yaml.safe_load(config_from({"name": "x"}).to_yaml())
    assert written["search"]["num_samples"] == 20 and written["search"]["budget"] is None
