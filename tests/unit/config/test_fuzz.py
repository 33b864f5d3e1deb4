"""Property-based fuzzing of the config reader and of ``--set``, through the command line.

Whatever a config file holds (arbitrary bytes, any encoding, deep nesting, YAML aliases, huge
values, every key with values of every type) and whatever ``--set`` says, ``raytune-hp sample``
answers with exit 0, or exit 2 and one line on stderr, never a traceback; within a bounded time
per example and a bounded growth of memory; and writes nothing.

The command runs in this process (``raytune_hp.cli.main``): ``sample`` reads, overrides and
validates the config and draws from its space, and never imports or runs a user's code (the
import paths a config names are only looked for), so any input is safe to hand it. ``check`` and
``tune`` would call the functions those import paths name: they are not fuzzed.

The examples are drawn from a fixed seed (``derandomize``) and hypothesis keeps no database, so a
run is the same every time and leaves nothing on disk; ``RAYTUNE_HP_FUZZ_EXAMPLES`` sets how
many examples each property draws (default 150: about 10 seconds for all of them on 2 cores).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from pydantic import BaseModel

from raytune_hp.cli import main
from raytune_hp.config import ExperimentConfig
from raytune_hp.spaces import TABLES

EXAMPLES = int(os.environ.get("RAYTUNE_HP_FUZZ_EXAMPLES", "150"))
SECONDS_PER_EXAMPLE = 3.0
MEMORY_GROWTH = 400 * 2**20  # bytes the process may grow by over a whole property

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=datetime.timedelta(seconds=SECONDS_PER_EXAMPLE),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _section_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        for annotation in (field.annotation, *get_args(field.annotation)):
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                keys.extend(_section_keys(annotation, f"{key}."))
    return keys


KEYS = _section_keys(ExperimentConfig)
REPOSITORY = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPOSITORY / "configs").glob("*.yaml"))
HYPERPARAMETERS = sorted({row.name for table in TABLES.values() for row in table.rows})
ALL_KEYS = [*KEYS, *(f"space.{name}" for name in HYPERPARAMETERS)]


# --- values of every type ---------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["adam", "Adam", "ADAMW", "grid", "bayes", "auto", "400 epochs", "1e-3"]),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["low", "high", "value", "choices", "outside_table",
                                         "kind", "log", "epochs", "x"]) | st.text(max_size=8),
                        inner, max_size=4),
    ),
    max_leaves=12,
)  # fmt: skip
huge = st.one_of(
    st.integers(min_value=70, max_value=6000).map(lambda n: "1" + "0" * n),  # digits
    st.integers(min_value=100, max_value=200_000).map(lambda n: "x" * n),  # a long string
    st.integers(min_value=1, max_value=300).map(lambda n: "[" * n + "]" * n),  # nesting
    st.integers(min_value=1, max_value=60).map(lambda n: "{a: " * n + "1" + "}" * n),
)


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    """A flow mapping whose anchors repeat the one before ``width`` times, at some key."""
    levels, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    key = draw(st.sampled_from([*KEYS, "space.lr"]))
    anchors = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    anchors += [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)
    ]
    value = f"*a{levels - 1}"
    for part in reversed(key.split(".")):
        value = f"{{{part}: {value}}}"
    body = value[1:-1]
    return "\n".join(anchors) + f"\n{body}\n"


def _nest(key: str, value: Any) -> dict[str, Any]:
    tree: Any = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    return tree  # type: ignore[no-any-return]


def _merge(into: dict[str, Any], tree: dict[str, Any]) -> None:
    for key, value in tree.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@st.composite
def configs(draw: st.DrawFn) -> str:
    """A YAML mapping: a few keys of the schema (and a stray one), each with any value."""
    raw: dict[str, Any] = {"name": "fuzz"} if draw(st.booleans()) else {}
    for key in draw(st.lists(st.sampled_from(ALL_KEYS) | st.text(max_size=12), max_size=5)):
        _merge(raw, _nest(key, draw(values)))
    text = yaml.safe_dump(raw, allow_unicode=draw(st.booleans()))
    if draw(st.booleans()):  # a value YAML would not write: huge, deep, or a raw fragment
        key = draw(st.sampled_from(ALL_KEYS))
        fragment = draw(huge | st.text(max_size=20))
        text += f"{key.split('.')[0]}: {fragment}\n" if "." not in key else ""
    return text


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    """``--set`` items: known or random keys with YAML values of every kind, or no ``=``."""
    items = []
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(ALL_KEYS) | st.text(max_size=10))
        value = draw(
            st.one_of(
                values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()),
                huge,
                st.text(max_size=30),
                alias_bombs().map(lambda text: "{" + ", ".join(text.splitlines()) + "}"),
            )
        )
        items.append(draw(st.sampled_from([f"{key}={value}", key, f"{key}=", f"={value}"])))
    return items


# --- running the command ----------------------------------------------------------------------


class Workspace:
    """An empty folder to run the command in, and one beside it that holds the config file."""

    def __init__(self, root: Path) -> None:
        self.cwd, self.configs = root / "cwd", root / "configs"
        self.cwd.mkdir()
        self.configs.mkdir()
        self.baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def run(self, content: bytes, sets: list[str]) -> tuple[int, str, str]:
        path = self.configs / "exp.yaml"
        path.write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        saved_path, saved_cwd = list(sys.path), os.getcwd()
        started = time.perf_counter()
        try:
            os.chdir(self.cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                args = ["sample", str(path), "-n", "1"]
                for item in sets:
                    args += ["--set", item]
                code = main(args)
        finally:
            os.chdir(saved_cwd)
            sys.path[:] = saved_path
        elapsed = time.perf_counter() - started
        if currently_in_test_context():  # --hypothesis-show-statistics: how many were valid
            event(f"exit {code}")
        self.check(code, out.getvalue(), err.getvalue(), elapsed)
        return code, out.getvalue(), err.getvalue()

    def check(self, code: int, stdout: str, stderr: str, elapsed: float) -> None:
        assert code in (0, 2), (code, stderr[-2000:])
        assert "Traceback" not in stderr, stderr[-2000:]
        if code == 2:
            assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr[:2000]
            assert stderr.startswith("raytune-hp: "), stderr[:2000]
            assert len(stderr) < 2500, stderr[:2000]
            assert stdout == ""
        assert elapsed < SECONDS_PER_EXAMPLE, elapsed
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.baseline
        assert grown < MEMORY_GROWTH, f"memory grew by {grown / 2**20:.0f} MiB"
        assert os.listdir(self.cwd) == [], os.listdir(self.cwd)  # nothing written
        assert os.listdir(self.configs) == ["exp.yaml"], os.listdir(self.configs)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory() as root:
        space = Workspace(Path(root))
        space.run(b"name: warm\n", [])  # imports done once, outside any example's deadline
        yield space


# --- the properties ---------------------------------------------------------------------------


@FUZZ
@given(content=st.binary(max_size=3000))
def test_arbitrary_bytes(workspace: Workspace, content: bytes) -> None:
    workspace.run(content, [])


@FUZZ
@given(
    text=configs(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1", "cp1252"]),
)
def test_configs_in_any_encoding(workspace: Workspace, text: str, encoding: str) -> None:
    _, _, stderr = workspace.run(text.encode(encoding, errors="replace"), [])
    if encoding in ("utf-8", "utf-16", "utf-32", "utf-8-sig"):
        assert "must be text in UTF-8" not in stderr  # every such file is read


@FUZZ
@given(text=configs(), sets=overrides())
def test_set_overrides(workspace: Workspace, text: str, sets: list[str]) -> None:
    workspace.run(text.encode(), sets)


@FUZZ
@given(shipped=st.sampled_from(SHIPPED), sets=overrides())
def test_set_overrides_of_the_shipped_configs(
    workspace: Workspace, shipped: Path, sets: list[str]
) -> None:
    # Valid configs with a few keys changed reach the checks beyond the schema (the space, the
    # grid, the budget, the import paths).
    workspace.run(shipped.read_bytes(), sets)


@FUZZ
@given(text=alias_bombs(), sets=overrides())
def test_aliases(workspace: Workspace, text: str, sets: list[str]) -> None:
    workspace.run(text.encode(), sets)


@FUZZ
@given(key=st.sampled_from(ALL_KEYS), fragment=huge)
def test_huge_values_at_every_key(workspace: Workspace, key: str, fragment: str) -> None:
    # In the file and through --set: each must stay one short line.
    text = yaml.safe_dump(_nest(key, "PLACEHOLDER")).replace("PLACEHOLDER", fragment)
    _, _, stderr = workspace.run(text.encode(), [])
    assert len(stderr) < 1100
    _, _, stderr = workspace.run(b"name: fuzz\n", [f"{key}={fragment}"])
    assert len(stderr) < 1100


def test_the_valid_configs_are_found_too(workspace: Workspace) -> None:
    # The properties above must not only ever see refusals: a plain config and a valid --set
    # pass, so exit 0 is reachable.
    code, stdout, _ = workspace.run(b"name: fuzz\nseed: 3\n", ["search.num_samples=4"])
    assert code == 0 and stdout.startswith("{")
