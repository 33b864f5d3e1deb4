"""The search generator of a folder that was copied or moved: its new trials go to the new place."""

from __future__ import annotations

from pathlib import Path

from ray import cloudpickle
from ray.tune.experiment import Experiment

from raytune_hp.search.generator import FolderSearchGenerator
from raytune_hp.search.grid_searcher import GridSearcher
from raytune_hp.storage import ExperimentStore, rooted_at


def _train(config: dict[str, float]) -> None:
    return None


def test_a_resumed_generator_creates_trials_in_the_folder_being_run(tmp_path: Path) -> None:
    old, new = str(tmp_path / "old"), str(tmp_path / "new")
    searcher = GridSearcher([{"lr": 0.1}, {"lr": 0.2}], metric="val_acc", mode="max")
    generator = FolderSearchGenerator(searcher, ExperimentStore.of(old, "exp"))
    tuner_state = cloudpickle.dumps(generator)  # as Ray keeps it in tuner.pkl
    generator.add_configurations(Experiment("exp", run=_train, num_samples=2, storage_path=old))
    assert generator.next_trial().storage.experiment_fs_path == f"{old}/exp"
    search_state = cloudpickle.dumps(generator.get_state())  # search_gen_state-*.json

    with rooted_at(ExperimentStore.of(new, "exp")):
        resumed = cloudpickle.loads(tuner_state)
    resumed.set_state(cloudpickle.loads(search_state))
    trial = resumed.next_trial()
    assert trial.storage.experiment_fs_path == f"{new}/exp"
