"""The ``raytune-hp`` command line (also ``python -m raytune_hp``).

``raytune-hp`` alone, ``raytune-hp help`` and ``raytune-hp help COMMAND`` print help; every
command's ``--help`` describes each argument and its default. A misspelled command or choice is
answered with the closest one (``raytune-hp tnue``: did you mean tune?).

Exit codes: 0 success; 1 the run failed (or a check found a blocking problem; or a write failed:
disk full, read-only, permission, said in one line, resumable); 2 bad input, with one line on
stderr and no traceback (also: another driver runs the experiment); 130 interrupted (Ctrl-C),
143 stopped by SIGTERM and 129 by SIGHUP, each resumable with --resume.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from raytune_hp.errors import ConfigError, RaytuneHPError, StorageWriteError, bounded, did_you_mean
from raytune_hp.values import is_pow2

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
_AFTER_A_FAILED_WRITE = (
    "stopped; everything written before is kept: make room (or fix the permission), then run "
    "the same command again (tune with --resume)"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's own usage errors follow the same contract: one line, exit 2, the grammar.
        ours = re.fullmatch(r"argument ([^:]+): (must .*)", message)
        if ours:  # raised by one of the argument types below, or by _check_value
            message = f"{ours[1]} {ours[2]}"
        else:
            message = f"the arguments must be as `{self.prog} --help` shows; got {message}"
        self.exit(EXIT_BAD_INPUT, f"raytune-hp: {_one_line(message)}\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        # A command or a choice not known: the grammar, and the closest name (case ignored).
        if action.choices is not None and value not in action.choices:
            names = [str(choice) for choice in action.choices]
            raise argparse.ArgumentError(
                action,
                f"must be one of {_listed(names)}; got {value!r}{did_you_mean(value, names)}",
            )


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs, examples), arguments' help wrapped as usual."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            # argparse measures the commands' names without the indent it prints them with,
            # which put batch-study's help on a line of its own.
            self._action_max_length += self._indent_increment


class _Version(argparse.Action):
    """``--version``: computed when asked (package metadata only: nothing is imported)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(version_line())
        parser.exit(EXIT_OK)


def version_line() -> str:
    """raytune-hp's version, then the versions of the Ray and torch installed beside it, read
    from the packages' metadata (importing either would take seconds).

    Example:
        >>> version_line().startswith("raytune-hp ")
        True
    """
    from importlib.metadata import PackageNotFoundError, version

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    others = ", ".join(f"{package} {of(package)}" for package in ("ray", "torch"))
    return f"raytune-hp {of('raytune-hp')} ({others}, Python {sys.version.split()[0]})"


def _listed(names: Sequence[str]) -> str:
    """``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _one_line(message: str) -> str:
    return " ".join(bounded(message).splitlines())


def _given(text: str) -> str:
    """A command-line value as a message quotes it: a number bare, anything else quoted."""
    try:
        return str(int(text))
    except ValueError:
        return repr(text)


def _integer(minimum: int) -> Callable[[str], int]:
    """An argument type: an integer ≥ ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer ≥ {minimum}; got {_given(text)}")
        return value

    return parse


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0; got {text!r}")
    return value


def _batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or not all(is_pow2(size) for size in sizes):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated powers of two ≥ 1, e.g. 16,64,256; got {text!r}"
        )
    return sizes


_DESCRIPTION = """\
Hyperparameter tuning for PyTorch on Ray Tune, with search spaces that mirror practitioners'
recommendation tables (`raytune-hp spaces` prints them).

Start with:
  raytune-hp check configs/quickstart.yaml      pre-flight checks, in seconds
  raytune-hp tune configs/quickstart.yaml       the search; then read runs/quickstart/summary.md
"""

_EPILOG = """\
`raytune-hp help COMMAND` (or `raytune-hp COMMAND --help`) describes a command's arguments.
Exit codes: 0 success; 1 the run failed (or a check found a blocking problem); 2 bad input, with
one line on stderr; 130 interrupted (Ctrl-C), 143 (SIGTERM) or 129 (SIGHUP): resumable with
--resume.
"""

_CONFIG_HELP = "experiment YAML, e.g. configs/quickstart.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="raytune-hp", description=_DESCRIPTION, epilog=_EPILOG, formatter_class=_Formatter
    )
    parser.add_argument(
        "--version", action=_Version, help="print the versions of raytune-hp, Ray and torch"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", parser_class=_Parser
    )

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=f"{re.sub('[a-z]', lambda m: m[0].upper(), summary, count=1)}."
            f"{description}",
            formatter_class=_Formatter,
        )

    tune = command(
        "tune",
        "run (or resume) a tuning experiment",
        "\n\nThe experiment folder <storage>/<name> gets the trials, TensorBoard's events, "
        "summary.md and\nbest_config.yaml. One line shows the progress; Ctrl-C stops the run, "
        "resumable with --resume.",
    )
    tune.add_argument("config", help=_CONFIG_HELP)
    _add_set(tune)
    tune.add_argument(
        "--name", help="experiment name (default: the config's name, else the file's name)"
    )
    tune.add_argument(
        "--storage",
        help="folder or URI (s3://, gs://) the experiment folder goes in (default: the "
        "config's storage, else runs)",
    )
    tune.add_argument(
        "--resume",
        action="store_true",
        help="continue the experiment in <storage>/<name> (after Ctrl-C or a crash, or to grow "
        "it with --set search.num_samples=N or --set search.budget=B) instead of starting a new "
        "one",
    )
    tune.add_argument(
        "--trust-folder",
        action="store_true",
        help="with --resume: resume even though this user's runs did not sign the folder's "
        "pickled Ray state (tuner.pkl, experiment_state-*.json, search_gen_state-*.json, "
        "searcher-state-*.pkl, any *.pkl): a folder copied from another machine or user. "
        "Those files are code that resuming runs: trust only a folder you would run a script "
        "from (README: Security)",
    )
    tune.add_argument(
        "--address",
        help="attach to a running Ray cluster, e.g. auto (default: start Ray on this machine)",
    )
    tune.add_argument(
        "--progress-table",
        action="store_true",
        help="print Ray's table of trials every 15 s instead of the one-line progress",
    )

    spaces = command(
        "spaces",
        "print the recommendation tables, or one config's resolved space",
        "\n\nMarkdown, as `raytune-hp spaces cnn > cnn.md` keeps it.",
    )
    spaces.add_argument(
        "tables",
        nargs="*",
        metavar="TABLE",
        help="tables to print, e.g. lr, optimization, cnn (default: every table)",
    )
    spaces.add_argument(
        "--config",
        help="print this experiment config's resolved space (default: print the tables)",
    )
    _add_set(spaces, " (only with --config)")

    check = command(
        "check",
        "pre-flight checks of a config; exit 1 on a blocking problem",
        "\n\nThe rules of thumb practitioners check by hand before a search: the model's size "
        "against the\ntraining samples, batch sizes, dropout and BatchNorm, the grid's size, "
        "the seeds. Nothing is trained.",
    )
    check.add_argument("config", help=_CONFIG_HELP)
    _add_set(check)

    lr_find = command(
        "lr-find",
        "learning-rate range test and smoke test",
        "\n\nTrains the config's recommended configuration with a learning rate growing step "
        "by step, plots\nthe loss against it and suggests a rate; then trains briefly at "
        "1e-4 and 1e-3 to see whether each\nlearns.",
    )
    lr_find.add_argument("config", help=_CONFIG_HELP)
    lr_find.add_argument(
        "--steps",
        type=_integer(2),
        metavar="N",
        default=300,
        help="training steps of the range test, ≥ 2 (default: %(default)s)",
    )
    lr_find.add_argument(
        "--out",
        metavar="FOLDER",
        help="folder for the plot, which must not exist yet (default: <storage>/<name>-lr-find)",
    )
    _add_set(lr_find)

    batch = command(
        "batch-study",
        "time to a target metric across batch sizes",
        "\n\nTrains the recommended configuration at each batch size until the metric "
        "reaches the target.",
    )
    batch.add_argument("config", help=_CONFIG_HELP)
    batch.add_argument(
        "--batch-sizes",
        type=_batch_sizes,
        metavar="SIZES",
        help="comma-separated powers of two, e.g. 16,64,256 (default: those the space allows "
        "within 16..512)",
    )
    batch.add_argument(
        "--target",
        type=_positive_number,
        metavar="VALUE",
        help="metric value to reach (default: 0.95 for val_acc, 0.2 for a classification's "
        "val_loss; other metrics need one)",
    )
    batch.add_argument(
        "--max-epochs",
        type=_integer(1),
        metavar="N",
        help="epochs at most per batch size (default: the config's train.max_epochs)",
    )
    batch.add_argument(
        "--out",
        metavar="FOLDER",
        help="folder for the plot and the table, which must not exist yet (default: "
        "<storage>/<name>-batch-study)",
    )
    _add_set(batch)

    report = command("report", "(re)write summary.md and the plots of an experiment")
    report.add_argument("run_dir", metavar="RUN_DIR", help="an experiment folder (or URI)")

    results = command(
        "results",
        "print an experiment's table of trials, for other tools",
        "\n\nOne row per trial: its hyperparameters, score, epochs and status.",
    )
    results.add_argument("run_dir", metavar="RUN_DIR", help="an experiment folder (or URI)")
    results.add_argument(
        "--format",
        choices=("csv", "json", "markdown"),
        default="csv",
        help="csv, json (one object a line) or markdown (the summary's table) "
        "(default: %(default)s)",
    )

    sample = command(
        "sample",
        "print configurations drawn from a config's space, one JSON object a line",
    )
    sample.add_argument("config", help=_CONFIG_HELP)
    sample.add_argument(
        "-n", type=_integer(1), default=5, help="how many configurations (default: %(default)s)"
    )
    _add_set(sample)

    topics = [name for name in commands.choices if name != "help"]
    help_ = command("help", "print the list of commands, or a command's help")
    help_.add_argument(
        "topic",
        nargs="?",
        choices=topics,
        metavar="COMMAND",
        help="the command to describe (default: the list of commands)",
    )
    return parser


def _add_set(parser: argparse.ArgumentParser, only: str = "") -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key with a YAML value, e.g. --set search.num_samples=8 or "
        f"--set 'space.optimizer=[adam, sgd]'; repeatable{only}",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command; returns its exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's --help and --version, and its errors (printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if args.command == "help" and args.topic is not None:
        return main([args.topic, "--help"])
    if args.command in (None, "help"):
        parser.print_help()
        return EXIT_OK
    # As with `python -m`, the current folder is importable: configs name the user's own code
    # (model.builder, data.loader, train.function) by import path from there.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return _COMMANDS[args.command](args)
    except StorageWriteError as exc:  # not bad input: the run failed, and can go on later
        print(f"raytune-hp: {_one_line(str(exc))}; {_AFTER_A_FAILED_WRITE}", file=sys.stderr)
        return EXIT_FAILED
    except RaytuneHPError as exc:
        print(f"raytune-hp: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (raytune_hp.signals)
        from raytune_hp.signals import exit_code

        print("raytune-hp: interrupted", file=sys.stderr)
        return exit_code(getattr(exc, "signal_number", None))
    except BrokenPipeError:
        # The reader went away (`raytune-hp results RUN | head`): nothing more to print, and
        # Python must not complain when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` items, with ``--name`` and ``--storage`` as two more (taken literally, not read
    as YAML: ``--name 2024`` is a name). A key given twice, or a key and one inside it, is
    refused: which one wins would depend on the order."""
    given = [(f"--set {item}", item) for item in args.overrides]
    for flag in ("name", "storage"):
        value = getattr(args, flag, None)
        if value is not None:
            given.append((f"--{flag} {value}", f"{flag}={json.dumps(value)}"))
    keys = [(flag, item.partition("=")[0]) for flag, item in given if "=" in item]
    for i, (first, key) in enumerate(keys):
        for second, other in keys[i + 1 :]:
            if key == other or other.startswith(f"{key}.") or key.startswith(f"{other}."):
                outer = min(key, other, key=len)
                raise ConfigError(
                    f"--set {outer} must be given once, with nothing set inside it (which would "
                    f"win depends on the order); got {first} and {second}"
                )
    return [item for _, item in given]


def _grows(key: str) -> bool:
    """Whether ``--set KEY=...`` is one that grows an experiment on ``--resume``.

    Example:
        >>> _grows("search.num_samples"), _grows("search.budget.epochs"), _grows("seed")
        (True, True, False)
    """
    return key in ("search.num_samples", "search.budget") or key.startswith("search.budget.")


def _tune(args: argparse.Namespace) -> int:
    from raytune_hp.config import load_config

    keys = [item.partition("=")[0] for item in args.overrides]
    grow = "search.num_samples" in keys
    grow_budget = any(_grows(key) and key != "search.num_samples" for key in keys)
    if args.resume:
        others = [item for item, key in zip(args.overrides, keys, strict=True) if not _grows(key)]
        if others:
            given = " ".join(f"--set {item}" for item in others)
            raise ConfigError(
                "--set must not be given with --resume except search.num_samples=N to grow the "
                "experiment, or search.budget=B to grow its budget (it resumes as configured in "
                f"its config.yaml); got {given}"
            )
    config = load_config(args.config, _overrides(args))

    from raytune_hp.experiment import run_experiment
    from raytune_hp.signals import exit_code

    result = run_experiment(
        config,
        resume=args.resume,
        address=args.address,
        verbose=True,
        num_samples=config.search.num_samples if args.resume and grow else None,
        progress_table=args.progress_table,
        budget=config.search.budget if args.resume and grow_budget else None,
        trust_folder=args.trust_folder,
    )
    best = result.best
    print()
    where = result.location
    print(f"Experiment: {where}  ({len(result.trials)} trials)")
    if result.budget_spent:
        print(result.budget_spent)
    if result.interrupted:
        print(
            f"Interrupted; nothing is lost. Resume with:\n  raytune-hp tune {args.config} "
            f"--resume --name {config.name} --storage {config.storage}",
            file=sys.stderr,
        )
    stopped = exit_code(result.stop_signal) if result.interrupted else None
    if best is None:
        print("No trial reported a metric: see summary.md for the errors.", file=sys.stderr)
        return stopped or EXIT_FAILED
    print(
        f"Best trial {best.name}: {result.metric} = {best.best:.4f} "
        f"(best epoch; trained {best.epochs} epochs)"
    )
    for key, value in best.hparams.items():
        print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"Summary:      {where}/summary.md")
    print(f"Best config:  {where}/best_config.yaml")
    print(f"TensorBoard:  tensorboard --logdir {where}")
    return stopped or EXIT_OK


def _spaces(args: argparse.Namespace) -> int:
    from raytune_hp.spaces import format_space, format_tables

    if args.config is not None and args.tables:
        raise ConfigError(
            "TABLE must not be given with --config (which prints that config's space); "
            f"got {' '.join(args.tables)}"
        )
    if args.config is None and args.overrides:
        given = " ".join(f"--set {item}" for item in args.overrides)
        raise ConfigError(f"--set must be given only with --config; got {given}")
    if args.config is not None:
        from raytune_hp.config import load_config

        space = load_config(args.config, _overrides(args)).search_space()
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

    config = load_config(args.config, _overrides(args))
    space = config.search_space()
    _print_outside_notes(space)
    for point in sample(space, args.n, config.seed):
        print(json.dumps(point))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from raytune_hp.checks import format_report, run_checks
    from raytune_hp.config import load_config

    config = load_config(args.config, _overrides(args))
    report = run_checks(config)
    print(format_report(report, args.config), end="")
    return EXIT_FAILED if report.blocking else EXIT_OK


def _lr_find(args: argparse.Namespace) -> int:
    config, data, out = _diagnostic_inputs(args, "lr-find")
    from raytune_hp.diagnostics import lr_find  # torch: only once the input is known to be good

    result = lr_find(config, data, out, steps=args.steps)
    print(result.summary())
    return EXIT_OK


def _batch_study(args: argparse.Namespace) -> int:
    config, data, out = _diagnostic_inputs(args, "batch-study")
    from raytune_hp.diagnostics import batch_study  # torch: only once the input is known good

    result = batch_study(
        config,
        data,
        out,
        batch_sizes=args.batch_sizes,
        target=args.target,
        max_epochs=args.max_epochs,
    )
    print(result.markdown())
    print(f"Plot: {result.plot}\nTable: {result.table}")
    return EXIT_OK


def _diagnostic_inputs(args: argparse.Namespace, command: str) -> tuple[Any, Any, Any]:
    """The config, its data, and a new output folder (an existing one is never overwritten)."""
    from pathlib import Path

    from raytune_hp.config import load_config
    from raytune_hp.user_code import UserCode

    config = load_config(args.config, _overrides(args))
    target = getattr(args, "target", None)
    if target is not None and config.train.metric == "val_acc" and target > 1:
        raise ConfigError(
            f"--target must be an accuracy in (0, 1] for train.metric val_acc; got {target}"
        )
    out = Path(args.out or Path(config.storage) / f"{config.name}-{command}")
    if out.exists():
        raise ConfigError(
            f"--out must be a folder that does not exist yet; got {str(out)!r} (pass --out)"
        )
    return config, UserCode.of(config).dataset(config), out


def _report(args: argparse.Namespace) -> int:
    from raytune_hp.report import write_reports
    from raytune_hp.storage import SUMMARY_FILE, as_store
    from raytune_hp.storage_faults import damaged_files

    result = _experiment_at(args.run_dir)
    print("raytune-hp: reading the trials, writing summary.md and plots…", file=sys.stderr)
    trials = write_reports(result.location, result.config)
    for line in damaged_files(as_store(result.location)):
        print(f"raytune-hp: damaged: {line}", file=sys.stderr)
    print(f"{len(trials)} trials: {result.location}/{SUMMARY_FILE}")
    return EXIT_OK


def _results(args: argparse.Namespace) -> int:
    result = _experiment_at(args.run_dir)
    if args.format == "markdown":
        print(result.markdown())
    elif args.format == "json":
        print(result.dataframe().to_json(orient="records", lines=True), end="")
    else:
        print(result.dataframe().to_csv(index=False), end="")
    return EXIT_OK


def _experiment_at(run_dir: str) -> Any:
    """The experiment in ``run_dir`` (a folder or a URI), read from the folder alone."""
    from raytune_hp.results import ExperimentResult

    return ExperimentResult.load(run_dir)


_COMMANDS = {
    "tune": _tune,
    "spaces": _spaces,
    "sample": _sample,
    "check": _check,
    "lr-find": _lr_find,
    "batch-study": _batch_study,
    "report": _report,
    "results": _results,
}
