"""One machine with four GPUs and no cluster (``raytune-hp tune`` on a workstation): one trial
per GPU by default, each holding a GPU of its own, four at once. The GPUs are Ray's fake ones;
torch trains on the CPU."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import load_config
from raytune_hp.experiment import run_experiment

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


@pytest.fixture(scope="module")
def four_gpus() -> Iterator[None]:
    import ray

    ray.init(num_cpus=4, num_gpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _rows(trial_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def test_one_trial_per_gpu_by_default(
    four_gpus: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = [
        "space.num_kernels=100", "space.kernel_size=3", "space.batch_size=512",
        "early_stopping.name=none", "search.num_samples=8", "train.max_epochs=5",
        f"storage={tmp_path}",
    ]  # fmt: skip
    result = run_experiment(load_config(QUICKSTART, overrides), verbose=True)
    assert (
        "raytune-hp: 4 concurrent trials, 1 GPU each: 1 node of 4 GPUs" in capsys.readouterr().out
    )
    spans = []
    for trial in result.trials:
        rows = _rows(result.exp_dir / trial.name)
        (gpus,) = {row["gpu_ids"] for row in rows}
        assert len(gpus.split(",")) == 1, gpus  # exactly one GPU id
        start = rows[0]["timestamp"] - rows[0]["time_this_iter_s"]
        spans.append((gpus, start, rows[-1]["timestamp"]))
    # Ray's result timestamps are whole seconds: a second of slack on each side.
    for i, (gpu, start, end) in enumerate(spans):
        for other, other_start, other_end in spans[i + 1 :]:
            overlap = start + 1 < other_end and other_start + 1 < end
            assert not (gpu == other and overlap), spans
    assert len({gpu for gpu, _, _ in spans}) == 4  # every GPU was used
