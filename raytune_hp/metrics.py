"""Names of what a trial reports: one place for the trainable, TensorBoard and the reports."""

from __future__ import annotations

EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACC = "val_acc"
LR = "lr"
NUM_PARAMS = "num_params"
DIVERGED = "diverged"
SKIPPED = "skipped"
# Set (to the memory cap and torch's message) only on the record of a trial out of GPU memory.
OUT_OF_MEMORY = "out_of_memory"
TRAIN_SAMPLES = "train_samples"
# Where a trial ran (strings, in results only).
NODE_ID = "node_id"
GPU_IDS = "gpu_ids"
DEVICE = "device"
GPU_SHARE = "gpu_share"

EPOCH_METRICS = (VAL_LOSS, VAL_ACC)
HPARAMS_METRICS = (VAL_ACC, VAL_LOSS, TRAIN_LOSS)
