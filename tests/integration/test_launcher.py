"""The Ray cluster launcher end to end, as a user runs it with `cluster/local.yaml`: `ray up`,
`ray submit scripts/tune.py`, `ray rsync-down`, `ray down`, over SSH, with token authentication
on as the YAML sets it up, and what another machine on the head's network can reach.

Everything runs inside private namespaces (PID, network, mounts) around an sshd of the test's own
(`launcher/loopback_host.sh`): `ray stop`, which `ray down` always runs, kills every Ray process
it can see, and here it sees only the test's. The head (10.77.0.1, on a veth "LAN") and the
worker (127.0.0.2) are one host; the LAN's other end, 10.77.0.2, is another machine.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
HOST_SCRIPT = Path(__file__).parent / "launcher" / "loopback_host.sh"
PROBE_SCRIPT = Path(__file__).parent / "launcher" / "probe.py"
VENV_BIN = Path(sys.executable).parent
# The head host's address on its LAN, and another machine there (a private range, inside the
# test's own network namespaces).
HEAD_IP = "10.77.0.1"
PEER_IP = "10.77.0.2"
WORKER_IP = "127.0.0.2"
# Ray's default ports: the dashboard and Jobs API, GCS, Ray Client, the dashboard agent's HTTP.
DASHBOARD_PORT, GCS_PORT, RAY_CLIENT_PORT, AGENT_PORT = 8265, 6379, 10001, 52365
# Short paths inside the private /tmp: Ray's unix sockets must stay under 108 characters.
RAY_TMPDIR = "/tmp/r"
WORKER_TEMP_DIR = "/tmp/rw"
# The machine that runs `ray up` has a HOME of its own, so that the YAML's file_mounts entry
# really copies ~/.ray/auth_token to the nodes' HOME (the root user's, as sshd sees it).
CLIENT_HOME = "/tmp/client"
# What a client of another machine has: no token, unless a check gives it one.
PEER_HOME = "/tmp/peer"
WRONG_TOKEN = "/tmp/wrong_token"
NODE_ENV = {
    # Ray 2.60's autoscaler v2 counts the head toward the local node type's min_workers and never
    # starts the worker.
    "RAY_UP_enable_autoscaler_v2": "0",
    "RAY_TMPDIR": RAY_TMPDIR,
    "RAY_USAGE_STATS_ENABLED": "0",
}
# The client (`ray up`, `ray submit`) runs with token authentication on and the token it made.
CLIENT_ENV = {"HOME": CLIENT_HOME, "RAY_AUTH_MODE": "token", **NODE_ENV}
# local.yaml's setup_commands this test skips: `python3 -m venv ~/raytune-hp-venv` and the two
# `~/raytune-hp-venv/bin/pip install` lines (torch, then the project): building a virtualenv and
# installing torch on every node takes minutes and needs the network. In their place the nodes'
# ~/raytune-hp-venv is a link to the virtualenv running this test (torch and the project's
# dependencies installed), and the nodes' ~/.bashrc puts ~/raytune-hp on PYTHONPATH, as
# `pip install -e ~/raytune-hp` would: the nodes import the copy that file_mounts shipped. The
# YAML's ~/.bashrc line (PATH and RAY_AUTH_MODE=token) runs as written.
SKIPPED_SETUP = re.compile(r"python3 -m venv |~/raytune-hp-venv/bin/pip install ")
BASHRC_LINE = "export PATH=$HOME/raytune-hp-venv/bin:$PATH RAY_AUTH_MODE=token"
# What the test needs from the machine, by the Debian package that provides it.
TOOLS = {
    "/usr/sbin/sshd": "openssh-server",
    "ssh": "openssh-client",
    "rsync": "rsync",
    "ip": "iproute2",
    "ss": "iproute2",
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
    seen inside to the same file as the test sees it. With ``lan=(host_ip, peer_ip)`` the host
    also has ``host_ip`` (sshd listens there too) on a LAN whose other end, ``peer_ip``, is the
    network namespace `run` enters with ``netns="lan-peer"``. `stop` kills the namespace's first
    process, and with it everything inside.
    """

    def __init__(self, work: Path, lan: tuple[str, str] | None = None) -> None:
        self.lan = lan
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
        if self.lan is not None:
            env["HOST_LAN_IP"], env["LAN_PEER_IP"] = self.lan
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

    def run(
        self,
        *command: str,
        timeout: float,
        env: Mapping[str, str] = CLIENT_ENV,
        netns: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Runs ``command`` inside with ``env`` (and PATH, LANG), as the machine that runs `ray up`,
        or on the LAN's other machine with ``netns="lan-peer"``."""
        enter = ["nsenter", f"--target={self.init_pid}", "--pid", "--net", "--mount"]
        enter.append(f"--wd={REPO}")
        if netns is not None:
            enter += ["nsenter", f"--net=/run/netns/{netns}"]
        full_env = {
            "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            **env,
        }
        return subprocess.run(
            [*enter, *command],
            env=full_env,
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
    # The two "machines": this host, through the test's own sshd, the head at its LAN address.
    config["provider"]["head_ip"] = HEAD_IP
    config["provider"]["worker_ips"] = [WORKER_IP]
    # That sshd lets in only the user running the test, with the key made for this test.
    config["auth"] = {"ssh_user": getpass.getuser(), "ssh_private_key": key}
    # One worker address, kept running as local.yaml keeps its two.
    config["min_workers"] = config["max_workers"] = 1
    # The project from this checkout (absolute: the launcher resolves a relative source against
    # its own working folder). The auth token's entry stays as it is.
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token", config["file_mounts"]
    config["file_mounts"]["~/raytune-hp"] = str(REPO)
    # All but the lines SKIPPED_SETUP names, which this host stands in for.
    setup = config["setup_commands"]
    config["setup_commands"] = [line for line in setup if not SKIPPED_SETUP.match(line)]
    assert len(setup) - len(config["setup_commands"]) == 3, setup
    assert any(BASHRC_LINE in line for line in config["setup_commands"]), setup
    # The worker shares the head's host: its `ray stop` would kill the head, and a shared session
    # folder would let it delete the head job's working folder. Ray would also give it the head's
    # node address, where the autoscaler, which tells nodes apart by address, never sees the
    # worker's heartbeats and restarts Ray on it every 30 s: it gets the address the launcher
    # knows it by, as a machine of its own would. The head's commands stay as they are, security
    # flags included (its `ray stop` sees only the test's namespace).
    config["worker_start_ray_commands"] = [
        f"{command} --temp-dir={WORKER_TEMP_DIR} --node-ip-address={WORKER_IP}"
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


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"


def _listeners(host: LoopbackHost) -> list[tuple[str, int, str]]:
    """The host's listening TCP sockets as (address, port, process name); ``*`` is any address."""
    found = []
    for line in _check(host.run("ss", "-ltnpH", timeout=30), "ss -ltnp").splitlines():
        address, _, port = line.split()[3].rpartition(":")
        name = re.search(r'users:\(\("([^"]*)"', line)
        address = address.strip("[]").removeprefix("::ffff:")
        found.append((address, int(port), name.group(1) if name else "?"))
    return found


def _probe(host: LoopbackHost, checks: list[list[Any]], netns: str | None = None) -> list[Any]:
    """`launcher/probe.py`'s results for ``checks``, run on the head host or on ``netns``."""
    env = {"HOME": PEER_HOME, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [str(VENV_BIN / "python"), str(PROBE_SCRIPT), json.dumps(checks)]
    probe = host.run(*command, timeout=120, env=env, netns=netns)
    results: list[Any] = json.loads(_check(probe, "probe.py"))
    return results


def _error_line(output: str) -> str:
    """The line of a failed command's output that says why."""
    lines = output.strip().splitlines() or [""]
    said = [line for line in lines if re.search(r"Error\b|Error:|Check failed", line)]
    return (said or lines)[-1].strip()[:400]


def _check_security(host: LoopbackHost) -> None:
    """What the head's ports give a client, with and without the token, on the head host and from
    another machine on the head's LAN; each answer is printed, then checked."""
    token = f"{CLIENT_HOME}/.ray/auth_token"
    host.outside(WRONG_TOKEN).write_text(secrets.token_hex(32))
    host.outside(PEER_HOME).mkdir(mode=0o700)

    listeners = _listeners(host)
    beyond = sorted({(port, f"{name} {address}") for address, port, name in listeners
                     if not _is_loopback(address)})  # fmt: skip
    print(
        "[launcher] listening beyond loopback: " + ", ".join(f"{w}:{p}" for p, w in beyond),
        flush=True,
    )
    # A refused port proves nothing if nothing listens there: the dashboard runs, on loopback only.
    dashboard = [address for address, port, _ in listeners if port == DASHBOARD_PORT]
    assert dashboard == ["127.0.0.1"], listeners

    # On the head host, the dashboard's API (what `ray dashboard` tunnels to).
    api = f"http://127.0.0.1:{DASHBOARD_PORT}/api/version"
    local = _probe(host, [["http", api, None], ["http", api, WRONG_TOKEN], ["http", api, token]])
    for who, (status, body) in zip(("no token", "a wrong token", "the token"), local, strict=True):
        print(f"[launcher] head host, GET {api} with {who}: {status} {body[:100]!r}", flush=True)
    assert [status for status, _ in local] == [401, 403, 200], local
    assert '"ray_version"' in local[2][1], local

    # From another machine on the LAN: every port listening beyond loopback, over HTTP without
    # a token, then the dashboard's port, and Ray Client's first call with and without the token.
    client = f"{HEAD_IP}:{RAY_CLIENT_PORT}"
    scan = [["http", f"http://{HEAD_IP}:{port}/", None] for port, _ in beyond]
    checks = [
        *scan,
        ["tcp", HEAD_IP, DASHBOARD_PORT],
        ["ray_client", client, None],
        ["ray_client", client, WRONG_TOKEN],
        ["ray_client", client, token],
    ]
    *answers, dashboard_tcp, client_none, client_wrong, client_right = _probe(
        host, checks, netns="lan-peer"
    )
    for (port, who), (status, body) in zip(beyond, answers, strict=True):
        # Not HTTP (gRPC, sshd): the error's name says enough.
        said = f"{status} {body[:80]!r}" if isinstance(status, int) else status
        print(f"[launcher] {PEER_IP} -> {who}:{port} GET / without token: {said}", flush=True)
    print(f"[launcher] {PEER_IP} -> {HEAD_IP}:{DASHBOARD_PORT}: {dashboard_tcp}", flush=True)
    for who, answer in (("no token", client_none), ("a wrong token", client_wrong),
                        ("the token", client_right)):  # fmt: skip
        print(f"[launcher] {PEER_IP} -> Ray Client {client} ping with {who}: {answer}", flush=True)
    assert dashboard_tcp == "ConnectionRefusedError", dashboard_tcp
    assert client_none.startswith("UNAUTHENTICATED"), client_none
    assert client_wrong.startswith("UNAUTHENTICATED"), client_wrong
    assert client_right == "OK", client_right
    by_port = dict(zip((port for port, _ in beyond), answers, strict=True))
    agent = by_port.get(AGENT_PORT)
    assert agent is None or agent[0] == 401, agent

    # GCS, where every node must reach: `ray status` from the other machine.
    gcs = ["ray", "status", "--address", f"{HEAD_IP}:{GCS_PORT}"]
    peer_env = {"HOME": PEER_HOME, "RAY_USAGE_STATS_ENABLED": "0"}
    tries = {
        "without token auth": {},
        "with RAY_AUTH_MODE=token and no token": {"RAY_AUTH_MODE": "token"},
        "with a wrong token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": WRONG_TOKEN},
        "with the token": {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token},
    }
    outcome = {}
    for who, env in tries.items():
        run = host.run(*gcs, timeout=60, env={**peer_env, **env}, netns="lan-peer")
        output = run.stdout + run.stderr
        outcome[who] = (run.returncode, output)
        said = "an Autoscaler status" if "Autoscaler status" in output else _error_line(output)
        print(f"[launcher] {PEER_IP} -> {' '.join(gcs[:2])} {who}: exit {run.returncode}, {said}",
              flush=True)  # fmt: skip
    for who in ("without token auth", "with a wrong token"):
        code, output = outcome[who]
        assert code != 0 and "InvalidAuthToken" in output, f"{who}: exit {code}\n{output}"
    # This one never reaches the head: the client stops when it finds no token.
    assert outcome["with RAY_AUTH_MODE=token and no token"][0] != 0, outcome
    code, output = outcome["with the token"]
    assert code == 0 and "Active:" in output, f"with the token: exit {code}\n{output}"


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
    assert (VENV_BIN / "ray").exists(), f"no ray command beside {sys.executable}"
    import ray.autoscaler._private.commands  # noqa: F401
    from ray._private.utils import get_dashboard_dependency_error

    # Without ray[default] the head's dashboard serves no HTTP at all, and a refused port would
    # prove nothing.
    missing = get_dashboard_dependency_error()
    assert missing is None, f"the dashboard cannot run (install ray[default]): {missing}"

    timings: dict[str, float] = {}
    start = time.monotonic()
    with _step(timings, "apt-get install (what is missing)"):
        _install_missing_tools()

    host = LoopbackHost(tmp_path, lan=(HEAD_IP, PEER_IP))
    key = host.outside("/tmp/key/id_ed25519")
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cluster_yaml = "/tmp/cluster.yaml"
    config = _cluster_config("/tmp/key/id_ed25519")
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "--num-cpus=0" in head_start
    host.outside(cluster_yaml).write_text(yaml.safe_dump(config, sort_keys=False))
    # The nodes' ~/.bashrc before `ray up`, which the launcher's `bash --login -c -i 'source
    # ~/.bashrc; ...'` reads on every node; the YAML's setup line appends PATH and
    # RAY_AUTH_MODE=token. PYTHONPATH and the ~/raytune-hp-venv link: see SKIPPED_SETUP.
    bashrc = (
        f"export {' '.join(f'{name}={value}' for name, value in NODE_ENV.items())}\n"
        "export PYTHONPATH=$HOME/raytune-hp\n"
    )
    (host.home_dir / "raytune-hp-venv").symlink_to(os.path.realpath(sys.prefix))
    client_token = host.outside(f"{CLIENT_HOME}/.ray/auth_token")
    node_token = host.outside(f"{host.home}/.ray/auth_token")
    node_bashrc = host.outside(f"{host.home}/.bashrc")
    host.outside(CLIENT_HOME).mkdir(mode=0o700)
    storage = f"{host.home}/runs"
    local = "/tmp/down"

    try:
        with _step(timings, "namespaces + sshd"):
            host.start(bashrc, key.with_suffix(".pub").read_text())
        # As the README says, on the machine that runs `ray up`.
        generate = "ray get-auth-token --generate && chmod 600 ~/.ray/auth_token"
        _check(host.run("bash", "-c", generate, timeout=60), generate)
        assert stat.S_IMODE(client_token.stat().st_mode) == 0o600
        assert not node_token.exists()
        with _step(timings, "ray up"):
            _check(host.run("ray", "up", "-y", cluster_yaml, timeout=150), "ray up")
        copy = host.outside(f"{host.home}/raytune-hp")
        assert (copy / "scripts" / "tune.py").is_file() and not (copy / ".venv").exists()
        # The YAML's file_mounts shipped the token, still private; its setup line ran once.
        assert node_token.read_text() == client_token.read_text()
        assert stat.S_IMODE(node_token.stat().st_mode) == 0o600, oct(node_token.stat().st_mode)
        assert node_bashrc.read_text() == f"{bashrc}{BASHRC_LINE}\n", node_bashrc.read_text()

        status = ""
        with _step(timings, "worker joins (after ray up)"):
            deadline = time.monotonic() + 120
            while not _worker_joined(status):
                assert time.monotonic() < deadline, f"the worker never joined:\n{status}"
                time.sleep(2)
                status = host.run("ray", "exec", cluster_yaml, "ray status", timeout=60).stdout
        print(f"[launcher] ray status:\n{_status_block(status)}", flush=True)

        with _step(timings, "security checks"):
            _check_security(host)

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
    assert len(trial_table(summary)) == 1 + NUM_TRIALS
    assert (exp_dir / "config.yaml").is_file()
    assert (exp_dir / "best_config.yaml").is_file()
    trials = [folder for folder in exp_dir.iterdir() if (folder / "params.json").is_file()]
    assert len(trials) == NUM_TRIALS, sorted(path.name for path in exp_dir.iterdir())
    timings["total"] = time.monotonic() - start
    print("[launcher] timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    no_events = [trial.name for trial in trials if not list(trial.glob("events.out.tfevents.*"))]
    assert not no_events, f"trial folders without TensorBoard events: {no_events}"
