"""The Ray cluster launcher end to end, as a user runs it with `cluster/local.yaml`: `ray up`,
`ray submit scripts/tune.py`, `ray rsync-down`, `ray down`, over SSH to loopback.

Everything runs inside private namespaces (PID, network, mounts) around an sshd of the test's own
(`launcher/loopback_host.sh`): `ray stop`, which `ray down` always runs, kills every Ray process
it can see, and here it sees only the test's. Head 127.0.0.1 and worker 127.0.0.2 are one host.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HOST_SCRIPT = Path(__file__).parent / "launcher" / "loopback_host.sh"
VENV_BIN = Path(sys.executable).parent
HEAD_IP = "127.0.0.1"
WORKER_IP = "127.0.0.2"
# Short paths inside the private /tmp: Ray's unix sockets must stay under 108 characters.
RAY_TMPDIR = "/tmp/r"
WORKER_TEMP_DIR = "/tmp/rw"
RAY_ENV = {
    # Ray 2.60's autoscaler v2 counts the head toward the local node type's min_workers and never
    # starts the worker.
    "RAY_UP_enable_autoscaler_v2": "0",
    # This cluster lives and dies with the test: no token to create, copy and protect.
    "RAY_AUTH_MODE": "disabled",
    "RAY_TMPDIR": RAY_TMPDIR,
    "RAY_USAGE_STATS_ENABLED": "0",
}
# What the test needs from the machine, by the Debian package that provides it.
TOOLS = {
    "/usr/sbin/sshd": "openssh-server",
    "ssh": "openssh-client",
    "rsync": "rsync",
    "ip": "iproute2",
    "unshare": "util-linux",
    "nsenter": "util-linux",
}
NUM_TRIALS = 4
TINY = [
    "--set", "shared_storage=true",
    "--set", f"search.num_samples={NUM_TRIALS}",
    "--set", "train.max_epochs=2",
    "--set", "early_stopping.grace_period=1",
    "--set", "space.num_kernels=100",
]  # fmt: skip
# Ray's own processes (the ssh client and sshd sessions the launcher leaves are not).
RAY_PROCESS = re.compile(r"raylet|gcs_server|ray::|site-packages/ray/")


def _install_missing_tools() -> None:
    missing = sorted({package for tool, package in TOOLS.items() if shutil.which(tool) is None})
    if not missing:
        return
    if shutil.which("apt-get") is None:
        pytest.skip(f"needs {', '.join(missing)}, and there is no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Another test run may hold dpkg's lock: wait for it rather than fail.
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    lock = ["-o", "DPkg::Lock::Timeout=120"]
    for command in (["apt-get", "update", "-q"], [*install, *lock, *missing]):
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{' '.join(command)}:\n{run.stdout[-2000:]}{run.stderr}"


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


class LoopbackHost:
    """Private namespaces with an sshd on 127.0.0.1 and 127.0.0.2; `run` runs a command inside.

    Inside, the root user's HOME is ``work/home`` and /tmp is ``work/tmp``: `outside` maps a path
    seen inside to the same file as the test sees it. `stop` kills the namespace's first
    process, and with it everything inside.
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
        (self.home_dir / ".ssh").mkdir(parents=True, mode=0o700)
        self.home_dir.chmod(0o700)
        self.tmp_dir.mkdir()
        self.tmp_dir.chmod(0o1777)

    def outside(self, inside: str) -> Path:
        for prefix, folder in ((self.home, self.home_dir), ("/tmp", self.tmp_dir)):
            if inside == prefix or inside.startswith(prefix + "/"):
                return folder / inside[len(prefix) :].lstrip("/")
        raise ValueError(f"{inside} is neither under {self.home} nor under /tmp")

    def start(self, bashrc: str, public_key: str) -> None:
        authorized = self.home_dir / ".ssh" / "authorized_keys"
        authorized.write_text(public_key)
        authorized.chmod(0o600)
        (self.home_dir / ".bashrc").write_text(bashrc)
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
                raise AssertionError(f"the loopback host did not start:\n{self.log.read_text()}")
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

    def run(self, *command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        enter = ["nsenter", f"--target={self.init_pid}", "--pid", "--net", "--mount"]
        env = {
            "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": self.home,
            "LANG": "C.UTF-8",
            **RAY_ENV,
        }
        return subprocess.run(
            [*enter, f"--wd={REPO}", *command],
            env=env,
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


def _cluster_config(key: str) -> dict[str, Any]:
    """cluster/local.yaml, changed only where loopback on one host needs it."""
    config = yaml.safe_load((REPO / "cluster" / "local.yaml").read_text())
    # The two "machines": this host, through the test's own sshd.
    config["provider"]["head_ip"] = HEAD_IP
    config["provider"]["worker_ips"] = [WORKER_IP]
    # That sshd lets in only the user running the test, with the key made for this test.
    config["auth"] = {"ssh_user": getpass.getuser(), "ssh_private_key": key}
    # One worker address, kept running as local.yaml keeps its two.
    config["min_workers"] = config["max_workers"] = 1
    # The project from this checkout (absolute: the launcher resolves a relative source against
    # its own working folder). No auth token to copy: this cluster runs without token auth.
    config["file_mounts"] = {"~/raytune-hp": str(REPO)}
    # The project is installed already in the virtualenv that ~/.bashrc puts first on PATH:
    # check that every node finds it, instead of building a virtualenv and installing torch.
    config["setup_commands"] = ["python -c 'import raytune_hp'"]
    # The worker shares the head's host: its `ray stop` would kill the head, and a shared session
    # folder would let it delete the head job's working folder. The head's commands stay as they
    # are, security flags included (its `ray stop` sees only the test's namespace).
    config["worker_start_ray_commands"] = [
        f"{command} --temp-dir={WORKER_TEMP_DIR}"
        for command in config["worker_start_ray_commands"]
        if command.split()[:2] != ["ray", "stop"]
    ]
    return config


def _worker_joined(status: str) -> bool:
    """Whether `ray status` shows two active nodes and the worker's CPUs (the head has none)."""
    active = status.partition("Active:")[2].partition("Pending:")[0]
    nodes = sum(int(n) for n in re.findall(r"^\s*(\d+) \S+", active, flags=re.MULTILINE))
    cpus = re.search(r"^\s*[\d.]+/([\d.]+) CPU\b", status, flags=re.MULTILINE)
    return nodes == 2 and cpus is not None and float(cpus.group(1)) > 0


def _status_block(output: str) -> str:
    """`ray status`'s own lines in `ray exec`'s output, without the launcher's log lines."""
    lines = output[output.find("======== Autoscaler status") :].splitlines()
    block = []
    for line in lines:
        if re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\s+V*(INFO|WARN)", line):
            break
        block.append(line)
    return "\n".join(block).rstrip()


@contextmanager
def _step(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - start
        print(f"[launcher] {name}: {timings[name]:.1f} s", flush=True)


def _check(run: subprocess.CompletedProcess[str], what: str) -> str:
    assert run.returncode == 0, (
        f"{what}: exit {run.returncode}\n{run.stdout[-6000:]}\n{run.stderr[-6000:]}"
    )
    return run.stdout


def test_ray_up_submit_rsync_down_and_down_over_ssh_on_loopback(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("private namespaces and an sshd for root need root")
    # `ray[tune]` brings the launcher's commands; ray[default] (the dashboard) is not needed.
    assert (VENV_BIN / "ray").exists(), f"no ray command beside {sys.executable}"
    import ray.autoscaler._private.commands  # noqa: F401

    timings: dict[str, float] = {}
    start = time.monotonic()
    with _step(timings, "apt-get install (what is missing)"):
        _install_missing_tools()

    host = LoopbackHost(tmp_path)
    key = host.outside("/tmp/key/id_ed25519")
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cluster_yaml = "/tmp/cluster.yaml"
    config = _cluster_config("/tmp/key/id_ed25519")
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "--num-cpus=0" in head_start
    host.outside(cluster_yaml).write_text(yaml.safe_dump(config, sort_keys=False))
    # The launcher runs `bash --login -c -i 'source ~/.bashrc; ...'` on every node.
    bashrc = (
        f"export PATH={VENV_BIN}:$PATH\n"
        f"export {' '.join(f'{name}={value}' for name, value in RAY_ENV.items())}\n"
    )
    storage = f"{host.home}/runs"
    local = "/tmp/down"

    try:
        with _step(timings, "namespaces + sshd"):
            host.start(bashrc, key.with_suffix(".pub").read_text())
        with _step(timings, "ray up"):
            _check(host.run("ray", "up", "-y", cluster_yaml, timeout=150), "ray up")
        copy = host.outside(f"{host.home}/raytune-hp")
        assert (copy / "scripts" / "tune.py").is_file() and not (copy / ".venv").exists()

        status = ""
        with _step(timings, "worker joins (after ray up)"):
            deadline = time.monotonic() + 120
            while not _worker_joined(status):
                assert time.monotonic() < deadline, f"the worker never joined:\n{status}"
                time.sleep(2)
                status = host.run("ray", "exec", cluster_yaml, "ray status", timeout=60).stdout
        print(f"[launcher] ray status:\n{_status_block(status)}", flush=True)

        # `ray submit` copies the script to ~/tune.py on the head and runs it in the head's HOME:
        # the config comes from the project that file_mounts copied to ~/raytune-hp.
        with _step(timings, f"ray submit ({NUM_TRIALS} trials)"):
            submit = host.run(
                "ray", "submit", cluster_yaml, "scripts/tune.py", "--",
                "raytune-hp/configs/quickstart.yaml", "--name", "launcher",
                "--storage", storage, *TINY, "--address", "auto",
                timeout=300,
            )  # fmt: skip
            output = _check(submit, "ray submit")
        # The run's closing lines, from "Experiment: <folder> (N trials)" to "TensorBoard: ...".
        end = output.find("\n", output.rfind("TensorBoard: "))
        printout = output[output.rfind("Experiment: ") : end].replace("\r", "")
        print(f"[launcher] ray submit printed:\n{printout}", flush=True)

        host.outside(local).mkdir()
        with _step(timings, "ray rsync-down"):
            down = host.run(
                "ray", "rsync-down", cluster_yaml, f"{storage}/launcher", local, timeout=60
            )
            _check(down, "ray rsync-down")

        with _step(timings, "ray down"):
            _check(host.run("ray", "down", "-y", cluster_yaml, timeout=90), "ray down")
        ray_left = {pid: c for pid, c in host.processes().items() if RAY_PROCESS.search(c)}
        assert not ray_left, f"ray down left Ray processes running: {ray_left}"
    finally:
        host.stop()

    sshd = [pid for pid, cmdline in host.seen.items() if cmdline.startswith("sshd:")]
    assert sshd, f"the test's sshd was never seen among {host.seen}"
    survivors = host.survivors()
    assert not survivors, f"processes outlived the namespace (sshd was {sshd}): {survivors}"

    exp_dir = host.outside(local) / "launcher"
    summary = (exp_dir / "summary.md").read_text()
    print(f"[launcher] summary.md:\n{summary}", flush=True)
    assert len([line for line in summary.splitlines() if line.startswith("| ")]) == 1 + NUM_TRIALS
    assert (exp_dir / "config.yaml").is_file()
    assert (exp_dir / "best_config.yaml").is_file()
    trials = [folder for folder in exp_dir.iterdir() if (folder / "params.json").is_file()]
    assert len(trials) == NUM_TRIALS, sorted(path.name for path in exp_dir.iterdir())
    timings["total"] = time.monotonic() - start
    print("[launcher] timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    no_events = [trial.name for trial in trials if not list(trial.glob("events.out.tfevents.*"))]
    assert not no_events, f"trial folders without TensorBoard events: {no_events}"
