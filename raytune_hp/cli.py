"""The ``raytune-hp`` command line (also ``python -m raytune_hp``).

Exit codes: 0 success; 1 the run failed; 2 bad input, with one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from raytune_hp.errors import RaytuneHPError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors follow the same contract: one line, exit 2.
        self.exit(EXIT_BAD_INPUT, f"raytune-hp: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="raytune-hp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tune = commands.add_parser("tune", help="run (or resume) a tuning experiment")
    tune.add_argument("config", help="experiment YAML, e.g. configs/quickstart.yaml")
    tune.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set search.num_samples=8",
    )
    tune.add_argument("--name", help="experiment name (default: the config's, or the file name)")
    tune.add_argument("--storage", help="folder the experiment folder goes in (default: runs)")
    tune.add_argument("--resume", action="store_true", help="continue an existing experiment")
    tune.add_argument("--address", help="attach to a running Ray cluster, e.g. auto")

    spaces = commands.add_parser(
        "spaces", help="print the recommendation tables, or one config's resolved space"
    )
    spaces.add_argument("tables", nargs="*", metavar="TABLE", help="e.g. lr, optimization, cnn")
    spaces.add_argument("--config", help="print this experiment config's space instead")
    spaces.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    sample = commands.add_parser("sample", help="print configurations drawn from a config's space")
    sample.add_argument("config")
    sample.add_argument("-n", type=int, default=5, help="how many (default 5)")
    sample.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns its exit code."""
    args = _parser().parse_args(argv)
    # As with `python -m`, the current folder is importable: configs name the user's own code
    # (model.builder, data.loader, train.function) by import path from there.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return _COMMANDS[args.command](args)
    except RaytuneHPError as exc:
        print(f"raytune-hp: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("raytune-hp: interrupted", file=sys.stderr)
        return 130


def _tune(args: argparse.Namespace) -> int:
    from raytune_hp.config import load_config

    overrides = list(args.overrides)
    if args.name:
        overrides.append(f"name={args.name}")
    if args.storage:
        overrides.append(f"storage={args.storage}")
    config = load_config(args.config, overrides)

    from raytune_hp.experiment import run_experiment

    outcome = run_experiment(config, resume=args.resume, address=args.address)
    best = outcome.best
    print()
    where = outcome.location
    print(f"Experiment: {where}  ({len(outcome.trials)} trials)")
    if best is None:
        print("No trial reported a metric: see summary.md for the errors.", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"Best trial {best.name}: {outcome.metric} = {best.best:.4f} "
        f"(best epoch; trained {best.epochs} epochs)"
    )
    for key, value in best.hparams.items():
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"Summary:      {where}/summary.md")
    print(f"Best config:  {where}/best_config.yaml")
    print(f"TensorBoard:  tensorboard --logdir {where}")
    return EXIT_OK


def _spaces(args: argparse.Namespace) -> int:
    from raytune_hp.spaces import format_space, format_tables

    if args.config:
        from raytune_hp.config import load_config

        space = load_config(args.config, args.overrides).search_space()
        print(format_space(space), end="")
        _print_outside_notes(space)
        return EXIT_OK
    print(format_tables(args.tables or None), end="")
    return EXIT_OK


def _print_outside_notes(space: Any) -> None:
    from raytune_hp.spaces import outside_notes

    for note in outside_notes(space):
        print(f"raytune-hp: note: {note}", file=sys.stderr)


def _sample(args: argparse.Namespace) -> int:
    from raytune_hp.config import load_config
    from raytune_hp.errors import ConfigError
    from raytune_hp.spaces import sample

    if args.n < 1:
        raise ConfigError(f"-n must be an integer ≥ 1; got {args.n}")
    config = load_config(args.config, args.overrides)
    space = config.search_space()
    _print_outside_notes(space)
    for point in sample(space, args.n, config.seed):
        print(json.dumps(point))
    return EXIT_OK


_COMMANDS = {"tune": _tune, "spaces": _spaces, "sample": _sample}
