"""Ray Tune's search generator, creating each new trial in the folder being run.

Ray makes trials from its searcher's experiment spec, which it pickles with the search state
(``search_gen_state-*.json``) and takes back on resume instead of the one it was given: the
storage in that spec names the folder as it was first run. A folder copied or moved elsewhere
then resumes its finished and running trials in place (Ray re-points those) but creates its new
trials in the original folder. :class:`FolderSearchGenerator` re-points the spec at ``store``
(which itself unpickles as the folder being run: :func:`raytune_hp.storage.rooted_at`).

Example:
    >>> from raytune_hp.search.grid_searcher import GridSearcher
    >>> from raytune_hp.storage import ExperimentStore
    >>> searcher = GridSearcher([{"lr": 0.1}], metric="val_acc", mode="max")
    >>> generator = FolderSearchGenerator(searcher, ExperimentStore.of("/runs", "x"))
    >>> generator.searcher is searcher
    True
"""

from __future__ import annotations

import copy
from typing import Any

from ray.tune.search import Searcher, SearchGenerator

from raytune_hp.storage import ExperimentStore


class FolderSearchGenerator(SearchGenerator):  # type: ignore[misc]
    """``SearchGenerator`` whose restored experiment spec creates trials under ``store``.

    Args:
        searcher: the strategy's searcher.
        store: the run folder.
    """

    def __init__(self, searcher: Searcher, store: ExperimentStore) -> None:
        super().__init__(searcher)
        self._store = store

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        experiment = self._experiment
        if experiment is None:
            return
        # The fields Ray itself re-points for restored trials (TuneController._restore_trials).
        storage = copy.copy(experiment.storage)
        storage.storage_filesystem = self._store.fs
        storage.storage_fs_path, _, storage.experiment_dir_name = self._store.path.rpartition("/")
        experiment.storage = storage
        experiment.spec["storage"] = storage
