"""``train.trial_timeout``: one duration (the whole trial's limit) or a mapping of epoch and
trial limits, in seconds or words; one line for each mistake; kept when the config is written
and read back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from raytune_hp.config import load_config
from raytune_hp.report.trials import timed_out_detail

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


@pytest.mark.parametrize(
    ("written", "epoch", "trial", "said"),
    [
        ("600", None, 600.0, "trial 10 min"),
        ("90 s", None, 90.0, "trial 90 s"),
        ("10 min", None, 600.0, "trial 10 min"),
        ("1.5h", None, 5400.0, "trial 1.5 h"),
        ("{epoch: 60s}", 60.0, None, "epoch 1 min"),
        ("{epoch: 45, trial: 2 hours}", 45.0, 7200.0, "epoch 45 s, trial 2 h"),
    ],
)
def test_a_timeout_reads_as_one_duration_or_a_mapping(
    tmp_path: Path, written: str, epoch: float | None, trial: float | None, said: str
) -> None:
    config = load_config(QUICKSTART, [f"train.trial_timeout={written}"])
    limits = config.train.trial_timeout
    assert limits is not None and (limits.epoch, limits.trial, str(limits)) == (epoch, trial, said)
    written_back = tmp_path / "config.yaml"
    written_back.write_text(config.to_yaml())
    assert load_config(written_back).train.trial_timeout == limits


def test_no_timeout_is_the_default() -> None:
    assert load_config(QUICKSTART).train.trial_timeout is None


@pytest.mark.parametrize(
    ("text", "key", "rule", "given"),
    [
        ("trial_timeout: lots", "train.trial_timeout", "be a duration: seconds (90)", "'lots'"),
        ("trial_timeout: true", "train.trial_timeout", "be a duration", "True"),
        ("trial_timeout: 0", "train.trial_timeout", "be a duration above 0 seconds", "0"),
        ("trial_timeout: .inf", "train.trial_timeout", "be a duration above 0", "inf"),
        (
            "trial_timeout: 2 days",
            "train.trial_timeout",
            "name its unit, s, min",
            "'days' in '2 days'",
        ),
        ("trial_timeout: {}", "train.trial_timeout", "set epoch, trial or both", "{}"),
        ("trial_timeout: {epoch: -1}", "train.trial_timeout.epoch", "be a duration above 0", "-1"),
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
    path = write_config(tmp_path, f"train:\n  {text}\n")
    assert_grammar(config_error(path), path, key, rule, given)


def test_a_misspelled_limit_names_the_closest() -> None:
    with pytest.raises(Exception, match=r"got 'epochs' \(did you mean epoch\?\)"):
        load_config(QUICKSTART, ["train.trial_timeout={epochs: 5}"])


def test_the_summary_says_which_limit_a_trial_broke() -> None:
    assert timed_out_detail({"limit": "epoch", "seconds": 60, "epochs": 0}) == (
        "no report within 1 min in its first epoch (train.trial_timeout.epoch)"
    )
    assert timed_out_detail({"limit": "trial", "seconds": 5400, "epochs": 7}) == (
        "over 1.5 h of training, in epoch 8 (train.trial_timeout.trial)"
    )
