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

from raytune_hp.errors import ConfigError, RaytuneHPError

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
    _add_set(tune)
    tune.add_argument("--name", help="experiment name (default: the config's, or the file name)")
    tune.add_argument("--storage", help="folder the experiment folder goes in (default: runs)")
    tune.add_argument("--resume", action="store_true", help="continue an existing experiment")
    tune.add_argument("--address", help="attach to a running Ray cluster, e.g. auto")

    spaces = commands.add_parser(
        "spaces", help="print the recommendation tables, or one config's resolved space"
    )
    spaces.add_argument("tables", nargs="*", metavar="TABLE", help="e.g. lr, optimization, cnn")
    spaces.add_argument("--config", help="print this experiment config's space instead")
    _add_set(spaces)

    check = commands.add_parser("check", help="pre-flight checks; exit 1 on a blocking problem")
    check.add_argument("config")
    _add_set(check)

    lr_find = commands.add_parser("lr-find", help="learning-rate range test and smoke test")
    lr_find.add_argument("config")
    lr_find.add_argument("--steps", type=int, default=300, help="steps of the range test")
    lr_find.add_argument("--out", help="folder for the plot (default: <storage>/<name>-lr-find)")
    _add_set(lr_find)

    batch = commands.add_parser("batch-study", help="time to a target across batch sizes")
    batch.add_argument("config")
    batch.add_argument("--batch-sizes", help="comma-separated powers of two, e.g. 16,64,256")
    batch.add_argument("--target", type=float, help="metric value to reach (default: see README)")
    batch.add_argument("--max-epochs", type=int, help="epochs at most per batch size")
    batch.add_argument(
        "--out", help="folder for plot and table (default: <storage>/<name>-batch-study)"
    )
    _add_set(batch)

    report = commands.add_parser("report", help="(re)write summary.md and plots of an experiment")
    report.add_argument("run_dir", metavar="RUN_DIR", help="an experiment folder (or URI)")

    sample = commands.add_parser("sample", help="print configurations drawn from a config's space")
    sample.add_argument("config")
    sample.add_argument("-n", type=int, default=5, help="how many (default 5)")
    _add_set(sample)
    return parser


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set search.num_samples=8",
    )


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
    from raytune_hp.spaces import sample

    if args.n < 1:
        raise ConfigError(f"-n must be an integer ≥ 1; got {args.n}")
    config = load_config(args.config, args.overrides)
    space = config.search_space()
    _print_outside_notes(space)
    for point in sample(space, args.n, config.seed):
        print(json.dumps(point))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from raytune_hp.checks import format_report, run_checks
    from raytune_hp.config import load_config

    config = load_config(args.config, args.overrides)
    report = run_checks(config)
    print(format_report(report, args.config), end="")
    return EXIT_FAILED if report.blocking else EXIT_OK


def _lr_find(args: argparse.Namespace) -> int:
    from raytune_hp.diagnostics import lr_find

    config, data, out = _diagnostic_inputs(args, "lr-find")
    result = lr_find(config, data, out, steps=args.steps)
    print(result.summary())
    return EXIT_OK


def _batch_study(args: argparse.Namespace) -> int:
    from raytune_hp.diagnostics import batch_study

    sizes = None
    if args.batch_sizes:
        try:
            sizes = [int(size) for size in args.batch_sizes.split(",")]
        except ValueError:
            raise ConfigError(
                f"--batch-sizes must be comma-separated integers; got {args.batch_sizes!r}"
            ) from None
    config, data, out = _diagnostic_inputs(args, "batch-study")
    result = batch_study(
        config, data, out, batch_sizes=sizes, target=args.target, max_epochs=args.max_epochs
    )
    print(result.markdown())
    print(f"Plot: {result.plot}\nTable: {result.table}")
    return EXIT_OK


def _diagnostic_inputs(args: argparse.Namespace, command: str) -> tuple[Any, Any, Any]:
    """The config, its data, and a new output folder (an existing one is never overwritten)."""
    from pathlib import Path

    from raytune_hp.config import load_config
    from raytune_hp.plugins import UserCode

    config = load_config(args.config, args.overrides)
    out = Path(args.out or Path(config.storage) / f"{config.name}-{command}")
    if out.exists():
        raise ConfigError(
            f"--out must be a folder that does not exist yet; got {str(out)!r} (pass --out)"
        )
    return config, UserCode.of(config).dataset(config), out


def _report(args: argparse.Namespace) -> int:
    from raytune_hp.config import load_config
    from raytune_hp.report import CONFIG_FILE, SUMMARY_FILE, as_store, is_experiment, write_reports

    store = as_store(args.run_dir)
    if not is_experiment(store):
        raise ConfigError(
            f"RUN_DIR must be an experiment folder (its {CONFIG_FILE} and Ray's experiment "
            f"state); got {args.run_dir!r}"
        )
    config = load_config(f"{store.location}/{CONFIG_FILE}", text=store.read_text(CONFIG_FILE))
    print("raytune-hp: reading the trials, writing summary.md and plots…", file=sys.stderr)
    trials = write_reports(store, config)
    print(f"{len(trials)} trials: {store.location}/{SUMMARY_FILE}")
    return EXIT_OK


_COMMANDS = {
    "tune": _tune,
    "spaces": _spaces,
    "sample": _sample,
    "check": _check,
    "lr-find": _lr_find,
    "batch-study": _batch_study,
    "report": _report,
}
