"""The model builders: shapes at the tables' extremes, where dropout sits, and that each learns."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from raytune_hp.data import load_data
from raytune_hp.models import MODELS, build_model, count_parameters

IMAGE = (1, 8, 8)
SEQUENCE = (8, 8)
# Keys of other models and of the optimizer ride along in a trial's dict; builders ignore them.
OTHER_KEYS: dict[str, Any] = {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "seed": 0}

SMALL: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "cnn": ({"kernel_size": 1, "num_kernels": 100, "num_layers": 1, "dropout": 0.0}, IMAGE),
    "mlp": ({"hidden_size": 64, "num_layers": 1, "dropout": 0.0}, IMAGE),
    "rnn": ({"cell": "gru", "hidden_size": 64, "num_layers": 1, "dropout": 0.0}, SEQUENCE),
    "transformer": (
        {"d_model": 64, "num_heads": 2, "num_layers": 1, "ff_mult": 2, "dropout": 0.0},
        SEQUENCE,
    ),
}


def _logits(model: nn.Module, input_shape: tuple[int, ...], batch: int = 3) -> torch.Tensor:
    return model(torch.rand(batch, *input_shape))


def test_every_builder_is_registered() -> None:
    assert set(MODELS) == {"cnn", "mlp", "rnn", "transformer"}


def test_cnn_keeps_its_parameter_count() -> None:
    hp = {"kernel_size": 3, "num_kernels": 100, "num_layers": 1, "dropout": 0.5}
    assert count_parameters(build_model("cnn", hp, IMAGE, 10)) == 17010


@pytest.mark.parametrize("input_shape", [IMAGE, SEQUENCE])
@pytest.mark.parametrize(("hidden_size", "num_layers"), [(64, 1), (1024, 4)])
def test_mlp_builds_at_the_extremes(
    hidden_size: int, num_layers: int, input_shape: tuple[int, ...]
) -> None:
    hp = {"hidden_size": hidden_size, "num_layers": num_layers, "dropout": 0.5, **OTHER_KEYS}
    model = build_model("mlp", hp, input_shape, 10)
    assert _logits(model, input_shape).shape == (3, 10)
    assert sum(isinstance(m, nn.Linear) for m in model.modules()) == num_layers + 1


def test_mlp_parameters_grow_with_width_and_depth() -> None:
    def count(hidden_size: int, num_layers: int) -> int:
        hp = {"hidden_size": hidden_size, "num_layers": num_layers, "dropout": 0.5}
        return count_parameters(build_model("mlp", hp, IMAGE, 10))

    assert count(64, 1) < count(1024, 1) < count(1024, 4)
    assert count(64, 1) < count(64, 4)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize(("hidden_size", "num_layers"), [(64, 1), (64, 3), (1024, 1)])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_builds_at_the_extremes(
    cell: str, hidden_size: int, num_layers: int, bidirectional: bool
) -> None:
    hp = {
        "cell": cell,
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "dropout": 0.5,
        **OTHER_KEYS,
    }
    model = build_model("rnn", hp, SEQUENCE, 10)
    assert _logits(model, SEQUENCE).shape == (3, 10)
    rnn = next(m for m in model.modules() if isinstance(m, nn.RNNBase))
    assert isinstance(rnn, {"lstm": nn.LSTM, "gru": nn.GRU}[cell])
    assert (rnn.hidden_size, rnn.num_layers, rnn.bidirectional) == (
        hidden_size,
        num_layers,
        bidirectional,
    )


def test_rnn_bidirectional_defaults_to_off() -> None:
    hp = {"cell": "lstm", "hidden_size": 64, "num_layers": 1, "dropout": 0.0}
    rnn = next(m for m in build_model("rnn", hp, SEQUENCE, 10).modules() if isinstance(m, nn.LSTM))
    assert not rnn.bidirectional


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_parameters_grow_with_size_depth_and_directions(cell: str) -> None:
    def count(hidden_size: int, num_layers: int, bidirectional: bool = False) -> int:
        hp = {"cell": cell, "hidden_size": hidden_size, "num_layers": num_layers, "dropout": 0.0}
        return count_parameters(
            build_model("rnn", {**hp, "bidirectional": bidirectional}, SEQUENCE, 10)
        )

    assert count(64, 1) < count(64, 3) < count(1024, 1)
    assert count(64, 1) < count(64, 1, bidirectional=True)


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_dropout_only_before_and_after_the_recurrence(cell: str, num_layers: int) -> None:
    hp = {"cell": cell, "hidden_size": 64, "num_layers": num_layers, "dropout": 0.5}
    model = build_model("rnn", hp, SEQUENCE, 10)
    rnn = next(m for m in model.modules() if isinstance(m, nn.RNNBase))
    assert rnn.dropout == 0
    # Modules in registration order, which is the order of the forward pass.
    order = [type(m) for m in model.children()]
    assert order == [nn.Dropout, type(rnn), nn.Dropout, nn.Linear]
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [d.p for d in dropouts] == [0.5, 0.5]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_dropout_acts_in_training_only(cell: str) -> None:
    torch.manual_seed(0)
    hp = {"cell": cell, "hidden_size": 64, "num_layers": 2, "dropout": 0.5}
    model = build_model("rnn", hp, SEQUENCE, 10)
    x = torch.rand(4, *SEQUENCE)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_bidirectional_rnn_classifies_from_both_directions_final_states() -> None:
    torch.manual_seed(0)
    hp = {"cell": "lstm", "hidden_size": 64, "num_layers": 2, "dropout": 0.0, "bidirectional": True}
    model = build_model("rnn", hp, SEQUENCE, 10).eval()
    rnn = next(m for m in model.modules() if isinstance(m, nn.LSTM))
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    classifier.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    x = torch.rand(2, *SEQUENCE)
    with torch.no_grad():
        model(x)
        out, _ = rnn(x)
    # The forward direction ends at the last step, the backward one at the first.
    assert torch.allclose(seen[0], torch.cat([out[:, -1, :64], out[:, 0, 64:]], dim=1))


def test_rnn_rejects_an_unknown_cell() -> None:
    hp = {"cell": "transformer", "hidden_size": 64, "num_layers": 1, "dropout": 0.0}
    with pytest.raises(
        ValueError, match=r"rnn: cell must be one of \['gru', 'lstm'\]; got 'transformer'"
    ):
        build_model("rnn", hp, SEQUENCE, 10)


@pytest.mark.parametrize("name", ["rnn", "transformer"])
def test_sequence_models_reject_image_inputs(name: str) -> None:
    with pytest.raises(
        ValueError, match=rf"{name}: input_shape must be \(time, features\); got \(1, 8, 8\)"
    ):
        build_model(name, SMALL[name][0], IMAGE, 10)


@pytest.mark.parametrize(
    ("d_model", "num_heads", "num_layers", "ff_mult"),
    # Every extreme of every size once; the full grid of 512-wide, 6-layer models is slow to build.
    [(64, 2, 1, 2), (64, 8, 6, 4), (512, 2, 1, 4), (512, 8, 6, 2)],
)
def test_transformer_builds_at_the_extremes(
    d_model: int, num_heads: int, num_layers: int, ff_mult: int
) -> None:
    hp = {
        "d_model": d_model,
        "num_heads": num_heads,
        "num_layers": num_layers,
        "ff_mult": ff_mult,
        "dropout": 0.1,
        **OTHER_KEYS,
    }
    model = build_model("transformer", hp, SEQUENCE, 10)
    assert _logits(model, SEQUENCE).shape == (3, 10)
    layers = [m for m in model.modules() if isinstance(m, nn.TransformerEncoderLayer)]
    assert len(layers) == num_layers
    for layer in layers:
        assert layer.linear1.out_features == ff_mult * d_model
        assert layer.self_attn.num_heads == num_heads
        assert layer.self_attn.embed_dim == d_model


def test_transformer_parameters_grow_with_the_sizes() -> None:
    def count(d_model: int, num_layers: int, ff_mult: int) -> int:
        hp = {"d_model": d_model, "num_heads": 2, "num_layers": num_layers, "ff_mult": ff_mult}
        return count_parameters(build_model("transformer", {**hp, "dropout": 0.0}, SEQUENCE, 10))

    smallest = count(64, 1, 2)
    assert smallest < count(512, 1, 2)
    assert smallest < count(64, 6, 2)
    assert smallest < count(64, 1, 4)


def test_transformer_rejects_heads_that_do_not_divide_d_model() -> None:
    hp = {"d_model": 100, "num_heads": 8, "num_layers": 1, "ff_mult": 2, "dropout": 0.0}
    with pytest.raises(
        ValueError,
        match="transformer: d_model must be divisible by num_heads; got d_model=100, num_heads=8",
    ):
        build_model("transformer", hp, SEQUENCE, 10)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_each_model_learns_a_tiny_batch_of_digits(name: str) -> None:
    hp, input_shape = SMALL[name]
    data = load_data("digits" if input_shape == IMAGE else "digits_sequences", 0.2, seed=0)
    x, y = data.x_train[:64], data.y_train[:64]
    torch.manual_seed(0)
    model = build_model(name, hp, data.input_shape, data.num_outputs)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0], losses
