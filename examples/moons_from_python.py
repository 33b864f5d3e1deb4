"""Tuning from Python alone, as in a notebook: your own nn.Module, your own data and your own
metric (F1), with a training function of yours. No config file and no import paths.

Run it from anywhere: ``python examples/moons_from_python.py``; the experiment goes to
``runs/moons`` under the current folder (the README shows the same code as a notebook cell).
"""

import torch
from sklearn.datasets import make_moons
from sklearn.metrics import f1_score
from torch import nn

import raytune_hp

x, y = make_moons(n_samples=1000, noise=0.3, random_state=0)
x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
data = (x[:800], y[:800], x[800:], y[800:])


class Net(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(2, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def train(hp, data, report, *, max_epochs, state=None):  # type: ignore[no-untyped-def]
    model = Net(hp["width"], hp["dropout"])
    optimizer = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    for epoch in range(1, max_epochs + 1):
        model.train()
        for batch in torch.randperm(len(data.x_train)).split(hp["batch_size"]):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(data.x_train[batch]), data.y_train[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            predicted = model(data.x_val).argmax(1)
        report({"epoch": epoch, "val_f1": f1_score(data.y_val, predicted)})


result = raytune_hp.tune(
    {
        "name": "moons",
        "train": {"metric": "val_f1", "mode": "max", "max_epochs": 10},
        "space": {
            "optimizer": "adam",
            "batch_size": {"low": 32, "high": 256},
            "width": {"kind": "int", "low": 8, "high": 128, "log": True},
        },
        "search": {"num_samples": 12},
    },
    train=train,
    data=data,
)
print(result.best.hparams, f"val_f1 = {result.best_metric:.3f}")
print(result.dataframe().head())
