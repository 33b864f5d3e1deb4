"""Where the machine's CPU goes while a benchmark runs: ``/proc`` sampled in a thread.

:class:`Sampler` reads ``/proc/<pid>/stat`` of every process every :data:`SAMPLE_S` seconds (or
as often as it is told) and adds each process's CPU seconds to its kind (:data:`KINDS`): this
process (the driver), Ray's worker processes, the raylets, the GCS, the cluster's other
processes, and the rest of the machine (everything this process did not start). It also records
the driver's main thread, the whole machine's busy seconds and the available memory; the
sampling thread's own CPU is left out. Each Ray worker process that appears is put down with the
raylet that started it (its node).

Example (``python -m doctest benchmarks/proc_sampler.py`` runs it)::

    >>> with Sampler() as sampler:
    ...     _ = sum(range(10**7))
    >>> first, last = sampler.samples[0], sampler.samples[-1]
    >>> last.cpu_s["driver"] > first.cpu_s["driver"]
    True
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_S = 0.5  # how often /proc is sampled
KINDS = ("driver", "trial processes", "raylets", "GCS", "other Ray", "rest of machine")
"""Where the CPU goes: this process (the Tune driver); Ray's workers (the trials' actors, idle
workers); the raylets; the GCS; the cluster's other processes (agents, log monitors); everything
this script did not start (another user's work shows up there)."""
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """The clocks at one moment: CPU seconds so far per kind of process and for the machine."""

    wall: float
    available_gib: float
    machine_cpu_s: float
    main_thread_cpu_s: float  # the driver's main thread: Tune's loop
    cpu_s: dict[str, float]


def sample_at(samples: list[Sample], when: float) -> Sample:
    """The sample nearest to wall-clock time ``when``."""
    return min(samples, key=lambda s: abs(s.wall - when))


def cpu_between(
    samples: list[Sample], begin: float, end: float
) -> tuple[dict[str, float], Sample, Sample]:
    """CPU seconds per kind of process (and ``"machine"``, ``"main thread"``, and the
    ``"seconds"`` between them) from the sample nearest ``begin`` to the one nearest ``end``,
    and those two samples."""
    low, high = sample_at(samples, begin), sample_at(samples, end)
    used = {kind: high.cpu_s[kind] - low.cpu_s[kind] for kind in KINDS}
    used["machine"] = high.machine_cpu_s - low.machine_cpu_s
    used["main thread"] = high.main_thread_cpu_s - low.main_thread_cpu_s
    used["seconds"] = high.wall - low.wall
    return used, low, high


class Sampler:
    """Samples the CPU clocks of every process (``/proc``) and the available memory, in a
    thread whose own CPU is left out of the driver's."""

    def __init__(self, every_s: float = SAMPLE_S) -> None:
        self.every_s = every_s
        self.samples: list[Sample] = []
        self._me = os.getpid()
        self._last: dict[int, float] = {}  # per process: its CPU seconds at the last sample
        self._kind: dict[int, str] = {}
        self.workers_started = 0  # Ray worker processes that appeared after the first sample
        self.worker_node: dict[int, int] = {}  # every Ray worker process seen -> its raylet
        self._totals = dict.fromkeys(KINDS, 0.0)
        self._own_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def driver_cpu_s(self) -> float:
        """This process's CPU seconds, less the sampling thread's."""
        return time.process_time() - self._own_s

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            began = time.thread_time()
            self._sample()
            self._own_s += time.thread_time() - began

    def _sample(self) -> None:
        parent, cpu, comm = {}, {}, {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:  # the process ended
                continue
            pid = int(entry.name)
            name, _, rest = text[text.index("(") + 1 :].rpartition(")")
            fields = rest.split()
            parent[pid], comm[pid] = int(fields[1]), name
            cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        for pid, seconds in cpu.items():
            if pid == self._me:
                continue
            if pid not in self._kind:
                self._kind[pid] = self._classify(pid, comm[pid], parent)
                if self._kind[pid] == "trial processes":
                    self.worker_node[pid] = parent.get(pid, 0)
                    self.workers_started += bool(self.samples)
            self._totals[self._kind[pid]] += seconds - self._last.get(pid, 0.0)
        self._last = cpu
        self._totals["driver"] = self.driver_cpu_s
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        machine = (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # all but idle and iowait
        main = Path(f"/proc/{self._me}/task/{self._me}/stat").read_text().rpartition(")")[2]
        main_s = (int(main.split()[11]) + int(main.split()[12])) / _TICK
        sample = Sample(time.time(), available_gib(), machine, main_s, dict(self._totals))
        self.samples.append(sample)

    def _classify(self, pid: int, comm: str, parent: dict[int, int]) -> str:
        ancestor, hops = parent.get(pid, 0), 0
        while ancestor not in (0, 1, self._me) and hops < 64:
            ancestor, hops = parent.get(ancestor, 0), hops + 1
        if ancestor != self._me:
            return "rest of machine"
        if comm == "raylet":
            return "raylets"
        if comm == "gcs_server":
            return "GCS"
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            command = b""
        if command.startswith(b"ray::") or b"default_worker.py" in command:
            return "trial processes"
        return "other Ray"


def available_gib() -> float:
    """The memory available for new work (``MemAvailable`` in ``/proc/meminfo``), in GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return math.nan
