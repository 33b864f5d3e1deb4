"""GPU benchmark: a trial's throughput against the same loop without Ray, GPU utilization, and
small trials sharing one GPU.

Needs an NVIDIA GPU and a CUDA build of torch (``--dry-run`` runs every step on the CPU with tiny
sizes and a fake GPU, to check the script itself; its numbers mean nothing).

1. **Throughput**: one fixed configuration, trained by raytune-hp's loop
   (``raytune_hp.trainable.train``) in this process without Ray, and as a one-trial raytune-hp
   experiment (Ray, one GPU); samples per second over the epochs after the first (which pays
   for CUDA's start-up), fp32 and bf16. Two models: the quickstart CNN on digits (small: launch
   overhead dominates) and a larger CNN (256 kernels, two layers) on synthetic 3×32×32 images.
2. **Utilization**: ``nvidia-smi`` sampled every 100 ms while each run trains; the mean.
3. **Sharing**: the quickstart experiment (16 trials of 8 epochs, no early stopping) with
   ``gpus_per_trial`` 1, 0.5, 0.25 and 0.125: 1, 2, 4 and 8 trials on the GPU at once; wall
   time and the speed-up over one at a time.

Usage (from the repository root, on the GPU machine):
    python3 benchmarks/gpu.py            # writes benchmarks/results/gpu.md
    python3 benchmarks/gpu.py --dry-run  # CPU, tiny, nothing written to results/
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, header, write_result

from raytune_hp.config import ExperimentConfig, load_config

RESULTS_FILE = "gpu.md"
# CPU threads for the one-trial runs, alone and in a trial alike.
CPUS = min(4, os.cpu_count() or 1)
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SHARES = (1.0, 0.5, 0.25, 0.125)
# The targets.
MAX_RAY_SLOWDOWN = 0.05
MIN_SHARED_SPEEDUP = 2.5

SMALL_HP = {
    "optimizer": "adam", "lr": 1e-3, "batch_size": 128, "dropout": 0.5, "weight_decay": 0.0,
    "kernel_size": 3, "num_kernels": 128, "num_layers": 1,
}  # fmt: skip
LARGE_HP = {**SMALL_HP, "batch_size": 256, "num_kernels": 256, "num_layers": 2, "kernel_size": 3}


@dataclass(frozen=True)
class Size:
    epochs: int
    large_samples: int
    share_trials: int
    share_epochs: int


class Utilization:
    """Samples ``nvidia-smi``'s GPU utilization every 100 ms while in a ``with`` block."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.samples = enabled, []  # type: ignore[var-annotated]
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Utilization:
        if self.enabled:
            self._process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", "100"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            if line.strip().isdigit():
                self.samples.append(int(line.strip()))

    def __exit__(self, *_: Any) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait()

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


def large_npz(folder: Path, samples: int) -> Path:
    """Synthetic 3×32×32 images whose class is a fixed linear function of the pixels (learnable)."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((3 * 32 * 32, 10)).astype(np.float32)
    path = folder / "large.npz"
    parts = {}
    for part, n in (("train", samples), ("val", samples // 5)):
        x = rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
        parts[f"x_{part}"], parts[f"y_{part}"] = x, (x.reshape(n, -1) @ weights).argmax(axis=1)
    np.savez(path, **parts)
    return path


def config_for(
    name: str, hp: dict[str, Any], epochs: int, storage: Path, data: Path | None, precision: str
) -> ExperimentConfig:
    """A one-trial experiment: every hyperparameter fixed to ``hp``."""
    data_line = f"data: {{name: npz, path: {data}}}" if data else "data: {name: digits}"
    space = "\n".join(f"  {key}: {value}" for key, value in hp.items())
    text = f"""
name: {name}
storage: {storage}
{data_line}
model: {{name: cnn}}
train: {{max_epochs: {epochs}, metric: val_acc, precision: {precision}}}
space:
{space}
search: {{strategy: random, num_samples: 1}}
early_stopping: {{name: none}}
resources: {{cpus_per_trial: {CPUS}, gpus_per_trial: 1}}
"""
    return load_config(f"{name}.yaml", text=text)


def samples_per_second(seconds: list[float], samples: int) -> float:
    """Over the epochs after the first."""
    steady = seconds[1:] or seconds
    return samples * len(steady) / sum(steady)


def alone(config: ExperimentConfig, hp: dict[str, Any], gpu: bool) -> tuple[float, float | None]:
    """The loop without Ray: samples/s and mean GPU utilization."""
    from raytune_hp.trainable import TrialSettings, train
    from raytune_hp.user_code import UserCode

    data = UserCode.of(config).dataset(config)
    settings = TrialSettings(
        "cnn", config.train.max_epochs, 0, cpu_threads=CPUS, precision=config.train.precision
    )
    seconds: list[float] = []
    last = time.perf_counter()

    def report(metrics: dict[str, Any], state: dict[str, Any]) -> None:
        nonlocal last
        now = time.perf_counter()
        seconds.append(now - last)
        last = now

    with tempfile.TemporaryDirectory() as log_dir, Utilization(gpu) as usage:
        last = time.perf_counter()
        train(hp, data, settings, log_dir, report)
    return samples_per_second(seconds, len(data.x_train)), usage.mean


def with_ray(config: ExperimentConfig, gpu: bool) -> tuple[float, float | None, float]:
    """The same configuration as a raytune-hp experiment: samples/s, utilization, wall s."""
    from raytune_hp.experiment import run_experiment

    with Utilization(gpu) as usage:
        start = time.perf_counter()
        outcome = run_experiment(config)
        wall = time.perf_counter() - start
    rows = [
        json.loads(line)
        for path in outcome.exp_dir.rglob("result.json")
        for line in path.read_text().splitlines()
    ]
    seconds = [row["time_this_iter_s"] for row in rows]
    return samples_per_second(seconds, int(rows[0]["train_samples"])), usage.mean, wall


def shared(storage: Path, share: float, size: Size, gpu: bool) -> tuple[float, float | None]:
    """The quickstart experiment with ``share`` of the GPU per trial: wall s, utilization."""
    from raytune_hp.experiment import run_experiment

    name = f"share-{share:g}"
    config = load_config(
        QUICKSTART,
        overrides=[
            f"name={name}", f"storage={storage}", f"search.num_samples={size.share_trials}",
            f"train.max_epochs={size.share_epochs}", "early_stopping.name=none",
            f"resources.gpus_per_trial={share}", "resources.cpus_per_trial=1",
            f"search.max_concurrent={round(1 / share)}",
        ],
    )  # fmt: skip
    with Utilization(gpu) as usage:
        start = time.perf_counter()
        run_experiment(config)
        wall = time.perf_counter() - start
    return wall, usage.mean


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, no results file")
    args = parser.parse_args(argv)
    import ray
    import torch

    gpu = torch.cuda.is_available()
    if not gpu and not args.dry_run:
        print("benchmarks/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); "
              "--dry-run checks the script on the CPU", file=sys.stderr)  # fmt: skip
        return 2
    size = Size(2, 64, 4, 2) if args.dry_run else Size(6, 20000, 16, 8)
    command = " ".join(["python3", "benchmarks/gpu.py", *sys.argv[1:]])
    began = time.perf_counter()
    # One GPU, as the issue asks; a fake one for the dry run.
    ray.init(num_gpus=1 if not gpu else None, include_dashboard=False,
             logging_level=logging.WARNING, log_to_driver=False)  # fmt: skip
    throughput = []
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as folder:
        storage = Path(folder)
        large = large_npz(storage, size.large_samples)
        for model, hp, data in (
            ("quickstart CNN", SMALL_HP, None),
            ("larger CNN", LARGE_HP, large),
        ):
            for precision in ("fp32", "bf16"):
                name = f"{model.split()[0]}-{precision}"
                config = config_for(name, hp, size.epochs, storage, data, precision)
                plain, plain_use = alone(config, hp, gpu)
                tuned, tuned_use, wall = with_ray(config, gpu)
                throughput.append((model, precision, plain, tuned, plain_use, tuned_use, wall))
                print(f"{name}: alone {plain:.0f} samples/s, in a trial {tuned:.0f} samples/s")
        sharing = []
        for share in SHARES:
            wall, use = shared(storage, share, size, gpu)
            sharing.append((share, wall, use))
            print(f"gpus_per_trial {share}: {wall:.1f} s")

    device = torch.cuda.get_device_name(0) if gpu else "CPU (dry run)"
    lines = [
        *header("GPU benchmark: trial throughput and trials sharing one GPU", command),
        f"- GPU: {device}; CUDA {torch.version.cuda}",
        f"- Throughput: {size.epochs} epochs of one fixed configuration; samples/s over the "
        "epochs after the first; the larger CNN on "
        f"{size.large_samples:,} synthetic 3×32×32 images",
        f"- Sharing: `configs/quickstart.yaml`, {size.share_trials} trials of "
        f"{size.share_epochs} epochs, no early stopping, 1 CPU per trial",
        f"- Total runtime of the script: {time.perf_counter() - began:.0f} s",
        "",
        "| model | precision | alone samples/s | in a trial samples/s | trial ÷ alone "
        "| GPU use alone | GPU use in a trial | experiment wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    worst = 0.0
    for model, precision, plain, tuned, plain_use, tuned_use, wall in throughput:
        worst = max(worst, 1 - tuned / plain)
        lines.append(
            f"| {model} | {precision} | {plain:,.0f} | {tuned:,.0f} | {tuned / plain:.3f} "
            f"| {percent(plain_use)} | {percent(tuned_use)} | {wall:.1f} |"
        )
    one_at_a_time = sharing[0][1]
    lines += ["", "| gpus_per_trial | trials at once | wall s | speed-up | GPU use |",
              "|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {share:g} | {round(1 / share)} | {wall:.1f} | {one_at_a_time / wall:.2f}× "
        f"| {percent(use)} |"
        for share, wall, use in sharing
    ]
    four = next(wall for share, wall, _ in sharing if share == 0.25)
    speedup = one_at_a_time / four
    checks = [
        (
            f"a trial within {MAX_RAY_SLOWDOWN:.0%} of the loop alone",
            worst <= MAX_RAY_SLOWDOWN,
            f"worst {worst:.1%} slower",
        ),
        (
            f"4 sharing ≥ {MIN_SHARED_SPEEDUP}× one at a time",
            speedup >= MIN_SHARED_SPEEDUP,
            f"{speedup:.2f}×",
        ),
    ]
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if met else '**no**'} | {why} |" for name, met, why in checks]
    markdown = "\n".join(lines) + "\n"
    print("\n" + markdown)
    if not args.dry_run:
        print(f"Written to {write_result(RESULTS_FILE, markdown).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
