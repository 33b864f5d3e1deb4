"""GPU workers scaled up from zero by Ray's own autoscaler, for an experiment started as a user
starts one: `raytune-hp tune --address` against a head that has no worker yet, whose
`~/ray_bootstrap_config.yaml` says what the cluster can grow to.

The autoscaler is Ray's, with its fake multi-node provider (`RAY_FAKE_CLUSTER=1`): each node it
launches is a Ray node on this machine with fake GPUs. Everything runs inside private namespaces
(PID, network, mounts; `autoscaler/private_host.sh`): the provider's nodes always dial GCS at port
6379, and killing the namespace's first process ends the head, the autoscaler, its workers and
every trial. The namespace handling is the launcher test's (`test_launcher.py`), without its sshd.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent / "autoscaler"
HOST_SCRIPT = HERE / "private_host.sh"
BOOTSTRAP_CONFIG = HERE / "ray_bootstrap_config.yaml"
VENV_BIN = Path(sys.executable).parent
# Short paths inside the private /tmp: Ray's unix sockets must stay under 108 characters.
RAY_TMPDIR = "/tmp/r"
RAY_ENV = {
    # This cluster lives and dies with the test: no token to create and protect.
    "RAY_AUTH_MODE": "disabled",
    "RAY_TMPDIR": RAY_TMPDIR,
    "RAY_USAGE_STATS_ENABLED": "0",
    # The checkout under test, for the driver and (through the autoscaler, which starts them)
    # every worker node, wherever the virtualenv's own install of the project points.
    "PYTHONPATH": str(REPO),
}
TOOLS = ("ip", "unshare", "nsenter")
HEAD_TYPE = "ray.head.default"
WORKER_TYPE = "ray.worker.gpu"
NUM_TRIALS = 8
MAX_EPOCHS = 20
# Trials of several seconds, so that four at once overlap by more than the slack below; neither
# search.max_concurrent nor resources.gpus_per_trial is set: raytune-hp decides them from the
# autoscaler's node types.
SHORT = [
    "--set", f"search.num_samples={NUM_TRIALS}",
    "--set", f"train.max_epochs={MAX_EPOCHS}",
    "--set", "early_stopping.name=none",
    "--set", "space.num_kernels=100",
    "--set", "space.batch_size=256",
]  # fmt: skip
# Ray's `timestamp` in result.json is whole seconds: a trial's start and end, measured from it,
# are known to within this much.
SLACK_S = 1.0
# A line of Ray's own C++ log (the network namespace has no route out, and Ray says so).
RAY_LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [DIWEF] \d+ \d+\] ")


def _kept_paths(home: str) -> list[str]:
    """What the namespace must still see under the HOME and /tmp it hides: the interpreter (pyenv
    keeps it in ~/.pyenv), the virtualenv and the repository, outermost first."""
    wanted = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, REPO)})
    kept: list[str] = []
    for path in wanted:
        hidden = any(path == h or path.startswith(h + "/") for h in (home, "/tmp"))
        if hidden and not any(path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


class PrivateHost:
    """Private PID, network and mount namespaces with loopback up; `run` runs a command inside.

    Inside, the user's HOME is ``work/home`` and /tmp is ``work/tmp``: `outside` maps a path seen
    inside to the same file as the test sees it. `stop` kills the namespace's first process, and
    with it everything inside.
    """

    def __init__(self, work: Path) -> None:
        self.home = os.path.expanduser(f"~{getpass.getuser()}")
        self.home_dir = work / "home"
        self.tmp_dir = work / "tmp"
        self.log = work / "namespace.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.init_pid = 0
        self.pid_ns = ""
        self.seen: dict[int, str] = {}
        self.home_dir.mkdir(mode=0o700)
        self.tmp_dir.mkdir()
        self.tmp_dir.chmod(0o1777)

    def outside(self, inside: str) -> Path:
        for prefix, folder in ((self.home, self.home_dir), ("/tmp", self.tmp_dir)):
            if inside == prefix or inside.startswith(prefix + "/"):
                return folder / inside[len(prefix) :].lstrip("/")
        raise ValueError(f"{inside} is neither under {self.home} nor under /tmp")

    def start(self) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOST_HOME": str(self.home_dir),
            "HOST_TMP": str(self.tmp_dir),
            "HOST_KEEP": "\n".join(_kept_paths(self.home)),
        }
        unshare = ["unshare", "--pid", "--fork", "--mount-proc", "--net", "--mount"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*unshare, "bash", str(HOST_SCRIPT)], env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while not self.outside("/tmp/ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the private host did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        # With --fork, the namespace's first process is unshare's only child.
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        self.init_pid = int(children.split()[0])
        self.pid_ns = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        self.processes()

    def stop(self) -> None:
        """Kills the namespace's first process: the kernel then kills everything inside."""
        if self.proc is None:
            return
        if self.init_pid:
            self.processes()
            # unshare then logs "sigprocmask unblock failed" (it cannot re-raise SIGKILL): harmless.
            os.kill(self.init_pid, signal.SIGKILL)
        else:
            self.proc.kill()
        self.proc.wait(timeout=30)

    def run(
        self, *command: str, timeout: float, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        enter = ["nsenter", f"--target={self.init_pid}", "--pid", "--net", "--mount"]
        environment = {
            "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": self.home,
            "LANG": "C.UTF-8",
            **RAY_ENV,
            **(env or {}),
        }
        return subprocess.run(
            [*enter, f"--wd={REPO}", *command],
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def processes(self) -> dict[int, str]:
        """The processes in the namespace (PIDs as the test sees them) and their command lines."""
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != self.pid_ns:
                    continue
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            found[int(entry)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        self.seen.update(found)
        return found

    def survivors(self) -> dict[int, str]:
        """The processes ever seen in the namespace that still run there (zombies excepted)."""
        left = {}
        for pid, cmdline in self.seen.items():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                inside = os.readlink(f"/proc/{pid}/ns/pid") == self.pid_ns
            except OSError:
                continue
            if inside and state != "Z":
                left[pid] = cmdline
        return left


@dataclasses.dataclass(frozen=True)
class Span:
    """One trial as its result rows tell it: where it ran and when.

    ``start`` and ``end`` are lower bounds, true to within ``SLACK_S``: Ray's ``timestamp`` is
    the whole second of the last report, ``time_total_s`` how long the trial had run then.
    """

    trial: str
    node: str
    gpus: str
    start: float
    end: float
    seconds: float  # time_total_s
    first_epoch: int  # the whole second of the first report
    first_date: str
    last_date: str

    @property
    def place(self) -> str:
        return f"{self.trial} on {self.node[-5:]} GPU {self.gpus or '-'}"


def _spans(exp_dir: Path) -> list[Span]:
    spans = []
    for result in sorted(exp_dir.glob("*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        places = {(row["node_id"], row["gpu_ids"]) for row in rows}
        assert len(places) == 1, f"{result.parent.name} moved: {places}"  # one place per trial
        (node, gpus), last = places.pop(), rows[-1]
        # Never restarted (a trial that diverges ends early, and that is fine here).
        assert [row["epoch"] for row in rows] == list(range(1, len(rows) + 1)), result
        spans.append(
            Span(
                trial=result.parent.name,
                node=node,
                gpus=gpus,
                start=last["timestamp"] - last["time_total_s"],
                end=last["timestamp"],
                seconds=last["time_total_s"],
                first_epoch=rows[0]["timestamp"],
                first_date=rows[0]["date"],
                last_date=last["date"],
            )
        )
    return spans


def _most_at_once(spans: list[Span]) -> list[Span]:
    """The most trials that certainly ran at one moment: each had started (its start plus the
    slack) and none had ended yet."""
    best: list[Span] = []
    for moment in sorted(span.start + SLACK_S for span in spans):
        running = [s for s in spans if s.start + SLACK_S <= moment < s.end]
        best = max(best, running, key=len)
    return best


def _shared_gpus(spans: list[Span]) -> list[tuple[str, str]]:
    """Pairs of trials that certainly ran at the same time on the same GPU of the same node."""
    shared = []
    for i, one in enumerate(spans):
        for other in spans[i + 1 :]:
            same = (one.node, one.gpus) == (other.node, other.gpus)
            if same and max(one.start, other.start) + SLACK_S < min(one.end, other.end):
                shared.append((one.place, other.place))
    return shared


def _timeline(spans: list[Span]) -> str:
    """Each second from the first trial's start to the last one's end: how many trials ran
    (each placed by the middle of its uncertainty), and which, where."""
    first = math.floor(min(s.start for s in spans))
    lines = [
        f"  {s.place}: first epoch {s.first_date}, last {s.last_date}, {s.seconds:.1f} s in all"
        for s in sorted(spans, key=lambda s: s.start)
    ]
    for second in range(first, math.ceil(max(s.end for s in spans)) + 1):
        running = [s for s in spans if s.start <= second < s.end]
        places = ", ".join(s.place for s in running)
        lines.append(f"  +{second - first:3d} s  {len(running)} running  {places}")
    return "\n".join(lines)


def _node_types(status: str) -> dict[str, str]:
    """Node id to node type, from `ray status -v` ("Node: <id> (<type>)")."""
    return dict(re.findall(r"^Node: (\S+) \((\S+)\)$", status, flags=re.MULTILINE))


def _registrations(host: PrivateHost) -> dict[str, float]:
    """When each node registered with GCS (Unix time), from GCS's log: when it joined."""
    joined = {}
    pattern = re.compile(r"^\[(\S+ \S+) .*Registering new node\. node_id=(\w+)", re.MULTILINE)
    for log in host.outside(RAY_TMPDIR).glob("ray/session_2*/logs/gcs_server.out"):
        for when, node in pattern.findall(log.read_text(errors="replace")):
            joined[node] = datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return joined


def _own_lines(stderr: str) -> list[str]:
    """What raytune-hp said on stderr, without Ray's own log lines."""
    return [line for line in stderr.splitlines() if line.strip() and not RAY_LOG_LINE.match(line)]


@contextmanager
def _step(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - start
        print(f"[autoscaler] {name}: {timings[name]:.1f} s", flush=True)


def _check(run: subprocess.CompletedProcess[str], what: str) -> str:
    assert run.returncode == 0, (
        f"{what}: exit {run.returncode}\n{run.stdout[-6000:]}\n{run.stderr[-6000:]}"
    )
    return run.stdout


def test_gpu_workers_scale_up_from_zero_for_an_experiment(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("private PID, network and mount namespaces need root")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (util-linux, iproute2)")
    assert (VENV_BIN / "raytune-hp").exists(), f"no raytune-hp command beside {sys.executable}"
    from ray.autoscaler._private.util import validate_config

    bootstrap = yaml.safe_load(BOOTSTRAP_CONFIG.read_text())
    validate_config(bootstrap)  # Ray's schema: a typo here would leave the autoscaler idle
    workers = bootstrap["available_node_types"][WORKER_TYPE]
    assert workers["resources"] == {"CPU": 2, "GPU": 2} and workers["min_workers"] == 0

    timings: dict[str, float] = {}
    start = time.monotonic()
    host = PrivateHost(tmp_path)
    shutil.copyfile(BOOTSTRAP_CONFIG, host.home_dir / "ray_bootstrap_config.yaml")
    host.outside(RAY_TMPDIR).mkdir()
    shared, local = "/tmp/shared", "/tmp/local"
    tune = ["raytune-hp", "tune", "configs/quickstart.yaml", "--address", "127.0.0.1:6379"]
    tune += ["--name", "auto", *SHORT]

    def status() -> str:
        return _check(host.run("ray", "status", "-v", timeout=60), "ray status -v")

    def wait_for_status() -> dict[str, str]:
        """The node types, once the autoscaler has reported them (seconds after `ray start`)."""
        deadline = time.monotonic() + 60
        while not (types := _node_types(status())):
            assert time.monotonic() < deadline, f"the autoscaler never reported:\n{status()}"
            time.sleep(0.5)
        return types

    try:
        with _step(timings, "namespaces"):
            host.start()
        with _step(timings, "ray start --head"):
            head = host.run(
                "ray", "start", "--head", "--port=6379", "--num-cpus=0", "--num-gpus=0",
                f"--autoscaling-config={host.home}/ray_bootstrap_config.yaml",
                env={"RAY_FAKE_CLUSTER": "1"}, timeout=120,
            )  # fmt: skip
            _check(head, "ray start --head")
        with _step(timings, "autoscaler reports"):
            before = wait_for_status()
        assert list(before.values()) == [HEAD_TYPE], f"workers before any demand: {before}"

        # A local folder cannot hold an experiment on a cluster that may grow past the head,
        # even while the head is all there is. (The limits on each command keep the test within
        # pytest's 300 s, so that `finally` always ends the namespace.)
        with _step(timings, "refused: local storage"):
            refused = host.run(*tune, "--storage", local, timeout=90)
        said = _own_lines(refused.stderr)
        print(f"[autoscaler] refused (exit {refused.returncode}): {said}", flush=True)
        assert refused.returncode == 2 and len(said) == 1 and "storage" in said[0], (
            f"exit {refused.returncode}\n{refused.stdout[-3000:]}\n{refused.stderr[-3000:]}"
        )
        assert not host.outside(local).exists()
        after_refusal = _node_types(status())
        assert list(after_refusal.values()) == [HEAD_TYPE], f"a trial asked: {after_refusal}"

        driver_start = time.time()
        with _step(timings, f"raytune-hp tune ({NUM_TRIALS} trials)"):
            run = host.run(*tune, "--storage", shared, "--set", "shared_storage=true", timeout=180)
            _check(run, "raytune-hp tune")
        after = _node_types(status())
        joined = _registrations(host)
    finally:
        host.stop()
    gcs = [pid for pid, cmdline in host.seen.items() if "gcs_server" in cmdline]
    assert gcs, f"the head's GCS was never seen among {host.seen}"
    survivors = host.survivors()
    assert not survivors, f"processes outlived the namespace (GCS was {gcs}): {survivors}"

    output = f"{run.stdout}\n{run.stderr}".splitlines()
    decided = [line for line in output if "concurrent trials" in line]
    for line in decided or ["(no line saying how many concurrent trials)"]:
        print(f"[autoscaler] the driver said: {line}", flush=True)
    nodes = ", ".join(f"{node[-5:]} {kind}" for node, kind in sorted(after.items()))
    print(f"[autoscaler] nodes after the run: {nodes}", flush=True)
    spans = _spans(host.outside(shared) / "auto")
    print(f"[autoscaler] trials over time:\n{_timeline(spans)}", flush=True)
    at_once = _most_at_once(spans)
    print(f"[autoscaler] most at once: {[s.place for s in at_once]}", flush=True)
    worker_nodes = {node for node, kind in after.items() if kind == WORKER_TYPE}
    worker_joins = sorted(when for node, when in joined.items() if node in worker_nodes)
    timings["driver start to first worker joined"] = (
        worker_joins[0] - driver_start if worker_joins else math.nan
    )
    first_epoch = min(s.first_epoch for s in spans)
    timings["driver start to first epoch (±1 s)"] = first_epoch - driver_start
    timings["total"] = time.monotonic() - start
    print("[autoscaler] timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

    assert decided, "the driver never said how many concurrent trials it runs"
    assert len(spans) == NUM_TRIALS, [s.trial for s in spans]
    # The autoscaler started the workers: none before the driver, as many GPU workers as it may
    # run after, and every trial ran on one of them.
    assert len(worker_nodes) == workers["max_workers"], after
    assert {s.node for s in spans} <= worker_nodes, (after, [s.place for s in spans])
    # One GPU per trial, never two trials on one GPU at once, and as many trials at once as the
    # workers have GPUs.
    assert all(s.gpus and len(s.gpus.split(",")) == 1 for s in spans), [s.place for s in spans]
    assert not _shared_gpus(spans), _shared_gpus(spans)
    assert len(at_once) == workers["max_workers"] * workers["resources"]["GPU"], at_once
