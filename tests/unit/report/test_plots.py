"""The plots from fake trials (no Ray): valid PNGs written through the store, none without
trials."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from raytune_hp.config import ExperimentConfig
from raytune_hp.report import Importance, TrialRecord, hparam_importance, write_plots
from raytune_hp.report.summary import plots_markdown
from raytune_hp.storage import PLOTS_DIR, ExperimentStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_plots_are_valid_pngs_written_through_the_store(
    config: ExperimentConfig,
    trials: list[TrialRecord],
    importance: Importance,
    all_plots: list[str],
    tmp_path: Path,
    uri: bool,
) -> None:
    store = ExperimentStore(f"file://{tmp_path}" if uri else str(tmp_path))
    written = write_plots(store.child(PLOTS_DIR), trials, config, importance)
    assert written == all_plots
    for name in all_plots:
        data = (tmp_path / PLOTS_DIR / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        width, height = _png_size(data)
        assert 300 < width < 3000 and 200 < height < 2500, (name, width, height)
        assert len(data) > 10_000, name


def test_no_trials_plot_nothing(config: ExperimentConfig, tmp_path: Path) -> None:
    importance = hparam_importance([], config.search_space(), "val_acc", "max")
    assert write_plots(ExperimentStore(str(tmp_path)), [], config, importance) == []
    assert not (tmp_path / PLOTS_DIR).exists()
    assert "nothing to plot" in plots_markdown([], importance, "val_acc")
