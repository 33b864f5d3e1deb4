"""SIGTERM and SIGHUP stop a run as Ctrl-C does: what ``kill``, ``timeout``, systemd, Kubernetes
and SLURM send, and what a closed terminal sends.

Inside a Ray Tune run the signal is handed to Tune's own Ctrl-C handler: the trials stop, their
state and the experiment's are saved, the summary is written, and the run can be resumed.
Elsewhere (Ray starting, data loading) it raises :class:`Stopped`, a ``KeyboardInterrupt``, as
Ctrl-C would; while the reports are written it waits until they are. A second signal stops at
once, as a second Ctrl-C does. The command line exits with ``128 + signal`` (143 for SIGTERM,
129 for SIGHUP; 130 stays Ctrl-C's), as a shell reports a process that a signal ended.

Example:
    >>> exit_code(signal.SIGTERM), exit_code(signal.SIGHUP), exit_code(None)
    (143, 129, 130)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that stop a run cleanly besides SIGINT (Ctrl-C)."""
_KEPT = (*STOP_SIGNALS, signal.SIGINT, *([signal.SIGUSR1] if hasattr(signal, "SIGUSR1") else []))
"""The handlers a run puts back when it ends: Ray Tune leaves its own SIGINT and SIGUSR1 handlers
installed after a run that no signal stopped, and in the same process (a notebook, a script
that tunes twice) they would swallow the next Ctrl-C before the next run's trials start."""


class Stopped(KeyboardInterrupt):
    """A stop signal arrived outside a Ray Tune run: unwinds as Ctrl-C's KeyboardInterrupt
    does, and says which signal it was (``signal_number``)."""

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


def exit_code(signal_number: int | None) -> int:
    """The exit code of a run a signal stopped: ``128 + signal``, Ctrl-C's 130 for ``None``."""
    return 128 + (signal_number if signal_number is not None else signal.SIGINT)


class StopSignals:
    """The stop signals of one run: the first one received is :attr:`received`.

    Example:
        >>> stop, before = StopSignals(), signal.getsignal(signal.SIGTERM)
        >>> with stop.caught():
        ...     stop.catch()
        ...     signal.getsignal(signal.SIGTERM) == stop._handle
        True
        >>> signal.getsignal(signal.SIGTERM) is before
        True
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._holding = False

    @contextlib.contextmanager
    def caught(self) -> Iterator[None]:
        """The run's block: the caller's handlers are saved when it starts and put back when it
        ends (``ray.init`` replaces SIGTERM's and Ray Tune SIGINT's: neither outlives the run)."""
        with self._restored():
            yield

    def catch(self) -> None:
        """From now on a stop signal stops the run as Ctrl-C does. Called once Ray has started:
        ``ray.init`` installs a SIGTERM handler of its own that ends the process at once, which
        would leave the experiment without its summary."""
        if _main_thread():  # only the main thread may handle signals
            for number in STOP_SIGNALS:
                signal.signal(number, self._handle)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A block that a stop signal does not cut short (writing the reports): the signal is
        kept in :attr:`received` and the block goes on."""
        with self._restored():
            self._holding = True
            self.catch()
            try:
                yield
            finally:
                self._holding = False

    @staticmethod
    @contextlib.contextmanager
    def shielding() -> Iterator[None]:
        """Ray's own processes started in the block (its GCS and raylet, and through them the
        trials' workers) never see a stop signal: ``timeout``, systemd, SLURM and a closed
        terminal signal the whole process group, and a raylet that dies of it takes the run
        down before the driver can stop it cleanly. Ray does the same for SIGINT; a blocked
        signal stays blocked in the processes started meanwhile. (Ray's SIGTERM on shutdown
        then goes unheard too: it kills them a second later instead.)"""
        if not _main_thread():
            yield
            return
        before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signal_number
        if self._holding:
            return
        interrupt = signal.getsignal(signal.SIGINT)
        if first and _is_tunes(interrupt):
            interrupt(signal.SIGINT, frame)  # type: ignore[misc,operator]
        else:
            raise Stopped(signal_number)

    @contextlib.contextmanager
    def _restored(self) -> Iterator[None]:
        before = {number: signal.getsignal(number) for number in _KEPT}
        try:
            yield
        finally:
            if _main_thread():
                for number, handler in before.items():
                    signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _is_tunes(handler: Any) -> bool:
    """Whether ``handler`` is the SIGINT handler Ray Tune installs while it runs trials (it
    stops them and saves the experiment's state), rather than the one it puts back after."""
    return callable(handler) and getattr(handler, "__name__", "") == "signal_interrupt_tune_run"


def pass_on(signal_number: int | None) -> None:
    """Delivers a stop signal that a run caught, now that the run has stopped cleanly, to what
    handles it in the calling process: by default that ends the process (exit 143 or 129), as
    it would have without raytune-hp, only later; a handler of the caller's own runs."""
    if signal_number is not None and signal.getsignal(signal_number) not in (
        signal.SIG_IGN,
        None,
    ):
        signal.raise_signal(signal_number)
