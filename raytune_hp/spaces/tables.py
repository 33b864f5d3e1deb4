"""The recommendation tables as data: the ranges experienced practitioners tune in.

The tables are the product's heart (shared design §2). Each :class:`Table` holds one :class:`Row`
per hyperparameter: its kind, its range or choices, where to start and how finely to tune. The
learning rate's range depends on the optimizer, so it has a table of its own, :data:`LR_TABLE`. A
model names the tables it draws from (:data:`raytune_hp.models.MODELS`); the optional tables
(tricks, schedule) join a space only when a config includes them.

Example:
    >>> OPTIMIZERS["adam"].low, OPTIMIZERS["adam"].high
    (0.001, 0.01)
    >>> table_names("cnn")
    ('optimization', 'cnn', 'regularization')
    >>> [row.name for row in TABLES["regularization"].rows]
    ['dropout', 'weight_decay']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from raytune_hp.errors import SearchSpaceError
from raytune_hp.models import MODELS

if TYPE_CHECKING:
    import torch

Kind = Literal["log", "float", "int", "pow2", "choice"]
KINDS: tuple[str, ...] = ("log", "float", "int", "pow2", "choice")
LR = "lr"
OPTIMIZER = "optimizer"
FINE_TUNE_FACTOR = 0.01
OUTSIDE = "outside_table"


@dataclass(frozen=True)
class OptimizerRow:
    """One row of the learning-rate table: an optimizer, its recommended lr range, and how to
    build it: the ``torch.optim`` class ``torch_class`` with ``options`` fixed (momentum's 0.9),
    its other parameters at the library's defaults."""

    name: str
    label: str
    low: float
    high: float
    torch_class: str
    options: tuple[tuple[str, Any], ...] = ()
    note: str = ""

    def build(self, params: Any, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        """This row's optimizer over ``params`` (torch is imported only here).

        Example:
            >>> import torch
            >>> weights = [torch.zeros(2, requires_grad=True)]
            >>> optimizer = OPTIMIZERS["momentum"].build(weights, lr=1e-2, weight_decay=0.0)
            >>> type(optimizer).__name__, optimizer.defaults["momentum"]
            ('SGD', 0.9)
        """
        import torch

        optimizer_class = getattr(torch.optim, self.torch_class)
        return optimizer_class(params, lr=lr, weight_decay=weight_decay, **dict(self.options))


@dataclass(frozen=True)
class Row:
    """One hyperparameter of a recommendation table.

    ``low``/``high`` bound numeric kinds; ``choices`` lists categorical ones. ``log`` puts an
    ``int`` on a log scale (integers drawn log-uniformly; a float on a log scale is kind ``log``,
    and ``pow2`` is logarithmic by nature). ``start`` is where practitioners start; ``how`` says
    how finely to tune it. ``when = (parent, values)`` makes the row conditional: it exists only
    while ``parent`` takes one of ``values``. ``wide`` is the row's own hard range under
    ``bounds: wide`` (kind, low, high) where the general rule would not do; ``typical`` the range
    its prior keeps most of its mass in, where that is not the table's range
    (:mod:`raytune_hp.spaces.priors`).
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    start: Any = None
    how: str = ""
    note: str = ""
    when: tuple[str, tuple[Any, ...]] | None = None
    log: bool = False
    wide: tuple[Kind, float, float] | None = None
    typical: tuple[float, float] | None = None


@dataclass(frozen=True)
class Table:
    """A recommendation table. Optional tables join a space only when a config includes them."""

    name: str
    title: str
    rows: tuple[Row, ...]
    optional: bool = False


LR_TABLE: tuple[OptimizerRow, ...] = (
    OptimizerRow("sgd", "SGD", 1e-2, 1e-1, "SGD"),
    OptimizerRow(
        "momentum", "Momentum (SGD, momentum 0.9)", 1e-3, 1e-2, "SGD", options=(("momentum", 0.9),)
    ),
    OptimizerRow("adagrad", "Adagrad", 1e-3, 1e-2, "Adagrad"),
    OptimizerRow("adadelta", "Adadelta", 1e-2, 1e-1, "Adadelta"),
    OptimizerRow("rmsprop", "RMSprop", 1e-3, 1e-2, "RMSprop"),
    OptimizerRow(
        "adam", "Adam", 1e-3, 1e-2, "Adam", note="betas (0.9, 0.999), eps 1e-8 kept at defaults"
    ),
    OptimizerRow("nadam", "Nadam", 1e-3, 1e-2, "NAdam"),
    OptimizerRow("adamw", "AdamW", 1e-4, 1e-2, "AdamW", note="filled: Loshchilov & Hutter 2019"),
)
OPTIMIZERS: dict[str, OptimizerRow] = {row.name: row for row in LR_TABLE}
SCHEDULES = ("constant", "step", "cosine", "noam", "bert")

_TABLES: tuple[Table, ...] = (
    Table(
        "optimization",
        "Optimization",
        (
            Row(OPTIMIZER, "choice", choices=tuple(OPTIMIZERS), start="adam", how="by the problem",
                note="its own parameters at library defaults"),
            Row(LR, "log", start="low end of the optimizer's range", how="finely, log scale",
                note="range by optimizer (table lr); smoke test at 1e-4, then 1e-3",
                when=(OPTIMIZER, tuple(OPTIMIZERS))),
            Row("batch_size", "pow2", 1, 1024, start=128, how="finely",
                note="with BatchNorm not too small", wide=("pow2", 1, 1024), typical=(32, 512)),
        ),
    ),
    Table(
        "regularization",
        "Regularization",
        (
            Row("dropout", "float", 0.0, 0.5, start=0.5, how="finely",
                wide=("float", 0.0, 0.8)),
            Row("weight_decay", "float", 0.0, 1e-4, start=0.0, how="coarsely", note="L2",
                wide=("log", 1e-6, 1e-1), typical=(1e-6, 1e-4)),
        ),
    ),
    Table(
        "cnn",
        "CNN",
        (
            Row("kernel_size", "choice", choices=(1, 3, 5, 7), start=3, how="coarsely",
                note="odd"),
            Row("num_kernels", "int", 100, 600, start=100, how="coarsely",
                note="kernels per layer"),
            Row("num_layers", "int", 1, 4, start=1, how="coarsely",
                note="filled; start with the simplest model"),
        ),
    ),
    Table(
        "rnn",
        "RNN (filled)",
        (
            Row("cell", "choice", choices=("lstm", "gru"), start="lstm", how="coarsely"),
            Row("hidden_size", "pow2", 64, 1024, start=128, how="coarsely"),
            Row("num_layers", "int", 1, 3, start=1, how="coarsely"),
            Row("bidirectional", "choice", choices=(False, True), start=False, how="coarsely"),
            Row("grad_clip", "float", 1.0, 5.0, start=5.0, how="coarsely",
                note="gradient-norm clipping, Pascanu et al. 2013; dropout only on the input "
                "and output layers, never inside the recurrence"),
        ),
    ),
    Table(
        "transformer",
        "Transformer (filled; Vaswani et al. 2017 base as start)",
        (
            Row("d_model", "choice", choices=(64, 128, 256, 512), start=512, how="coarsely"),
            Row("num_heads", "choice", choices=(2, 4, 8), start=8, how="coarsely",
                note="must divide d_model"),
            Row("num_layers", "int", 1, 6, start=6, how="coarsely"),
            Row("ff_mult", "choice", choices=(2, 4), start=4, how="coarsely",
                note="feed-forward width = ff_mult × d_model"),
            Row("dropout", "float", 0.0, 0.3, start=0.1, how="finely"),
        ),
    ),
    Table(
        "mlp",
        "MLP (filled)",
        (
            Row("hidden_size", "pow2", 64, 1024, start=128, how="coarsely"),
            Row("num_layers", "int", 1, 4, start=1, how="coarsely",
                note="start with the simplest model"),
        ),
    ),
    Table(
        "tricks",
        "Tricks (filled; optional: include: [tricks])",
        (
            Row("label_smoothing", "choice", choices=(0.0, 0.1), start=0.0, how="coarsely"),
            Row("grad_clip", "float", 0.5, 5.0, start=1.0, how="coarsely",
                note="gradient-norm clipping"),
            Row("warmup_ratio", "float", 0.0, 0.1, start=0.0, how="coarsely",
                note="linear warmup over this share of the steps (constant, step, cosine)"),
        ),
        optional=True,
    ),
    Table(
        "schedule",
        "Learning-rate schedules (optional: include: [schedule]; the Transformer has it)",
        (
            Row("schedule", "choice", choices=SCHEDULES, start="constant", how="coarsely",
                note="noam: inverse-sqrt after linear warmup, peak = lr; bert: linear warmup, "
                "then polynomial decay to end_lr"),
            Row("warmup_steps", "int", 500, 8000, start=4000, how="coarsely",
                note="Transformer table; Vaswani et al. 4000", when=("schedule", ("noam", "bert"))),
            Row("power", "float", 0.5, 2.0, start=1.0, how="coarsely",
                note="filled; BERT uses 1.0", when=("schedule", ("bert",))),
            Row("end_lr", "float", 0.0, 1e-5, start=0.0, how="coarsely",
                note="filled; BERT uses 0", when=("schedule", ("bert",))),
        ),
        optional=True,
    ),
)  # fmt: skip
TABLES: dict[str, Table] = {table.name: table for table in _TABLES}
DEFAULT_CUSTOM_TABLES = ("optimization", "regularization")


def table_names(model: str) -> tuple[str, ...]:
    """The tables the built-in ``model`` draws from (the models' registry says which), its own
    table before the general ones: its rows win where names meet (the Transformer's dropout
    range, the RNN's clipping range)."""
    if model not in MODELS:
        raise SearchSpaceError(f"model.name must be one of {', '.join(MODELS)}; got {model!r}")
    return MODELS[model].tables
