"""The grid strategy's Ray Tune searcher: a fixed list of flat configurations, handed out once.

Ray's own grid generator would nest the conditional lr under the optimizer in every trial's
config; this searcher keeps configs flat like every other strategy's. Its state is the queue of
points still to hand out, so a resumed experiment continues the grid where it stopped; it is
saved as JSON (in the file Ray names ``searcher-state-*.pkl``), so that reading it back runs no
code from the folder.

Example:
    >>> searcher = GridSearcher([{"lr": 0.001}, {"lr": 0.01}], metric="val_acc", mode="max")
    >>> searcher.suggest("t0"), searcher.suggest("t1")
    ({'lr': 0.001}, {'lr': 0.01})
    >>> searcher.suggest("t2") == GridSearcher.FINISHED
    True
"""

from __future__ import annotations

import json
from typing import Any

from ray.tune.search import Searcher

from raytune_hp.storage import write_atomically


class GridSearcher(Searcher):  # type: ignore[misc]
    """Hands out ``points`` in order, then says it is finished."""

    def __init__(self, points: list[dict[str, Any]], metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self._queue = list(points)

    def suggest(self, trial_id: str) -> Any:
        """The next point of the grid, or ``Searcher.FINISHED`` once every point is out."""
        return self._queue.pop(0) if self._queue else Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        return None

    def get_state(self) -> dict[str, Any]:
        return {"queue": self._queue}

    def set_state(self, state: dict[str, Any]) -> None:
        self._queue = state["queue"]

    def save(self, checkpoint_path: str) -> None:
        write_atomically(checkpoint_path, json.dumps(self.get_state()).encode())

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as file:
            state = json.load(file)
        if not isinstance(state, dict) or not isinstance(state.get("queue"), list):
            raise ValueError(f"{checkpoint_path}: must hold the grid's queue of points")
        self.set_state(state)
