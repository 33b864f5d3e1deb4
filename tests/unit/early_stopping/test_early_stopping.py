"""The early-stopping factory: ASHA built from the config's budget and rungs, or none."""

from __future__ import annotations

from pathlib import Path

from ray.tune.schedulers import FIFOScheduler

from raytune_hp.config import load_config
from raytune_hp.early_stopping import build_early_stopping
from raytune_hp.early_stopping.persistent_asha import PersistentASHA

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


def test_asha_takes_its_budget_and_rungs_from_the_config() -> None:
    config = load_config(
        QUICKSTART,
        [
            "train.max_epochs=27",
            "early_stopping.grace_period=3",
            "early_stopping.reduction_factor=3",
            "train.metric=val_loss",
        ],
    )
    asha = build_early_stopping(config)
    assert isinstance(asha, PersistentASHA)
    assert [milestone for milestone, _ in asha.rungs()[0]] == [27, 9, 3]
    assert (asha._metric, asha._mode, asha._time_attr) == ("val_loss", "min", "epoch")


def test_none_means_every_trial_trains_its_whole_budget() -> None:
    config = load_config(QUICKSTART, ["early_stopping.name=none"])
    assert type(build_early_stopping(config)) is FIFOScheduler
