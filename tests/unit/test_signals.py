"""Stop signals in one process: SIGTERM and SIGHUP outside a Ray Tune run, inside one (handed to
Tune's own handler), while the reports are written, and passed on to the caller afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from types import FrameType

import pytest

from raytune_hp.signals import Stopped, StopSignals, exit_code, pass_on


def _delivered(done: Callable[[], bool]) -> None:
    """Waits (up to 10 s) for a signal sent to this process to be handled: on a loaded machine
    Python may run the handler a moment after ``os.kill`` returns."""
    deadline = time.monotonic() + 10
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_outside_a_tune_run_a_stop_signal_unwinds_like_ctrl_c() -> None:
    # Outside a run, Ctrl-C is Python's own (a Tune run earlier in this process may have left
    # its handler installed).
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop, before = StopSignals(), signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(KeyboardInterrupt) as raised, stop.caught():
            stop.catch()
            os.kill(os.getpid(), signal.SIGTERM)
            _delivered(lambda: False)  # the handler raises as soon as Python runs it
    finally:
        signal.signal(signal.SIGINT, interrupt)
    assert isinstance(raised.value, Stopped) and raised.value.signal_number == signal.SIGTERM
    assert stop.received == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back
    assert exit_code(stop.received) == 143


def test_inside_a_tune_run_a_stop_signal_goes_to_tunes_graceful_stop() -> None:
    calls: list[int] = []

    def signal_interrupt_tune_run(number: int, frame: FrameType | None) -> None:
        calls.append(number)  # what Ray Tune's handler, by that name, is given

    stop = StopSignals()
    before = signal.signal(signal.SIGINT, signal_interrupt_tune_run)
    try:
        with stop.caught():
            stop.catch()
            os.kill(os.getpid(), signal.SIGHUP)
            _delivered(lambda: bool(calls))
    finally:
        signal.signal(signal.SIGINT, before)
    assert calls == [signal.SIGINT] and stop.received == signal.SIGHUP


def test_a_run_puts_back_the_ctrl_c_handler_ray_tune_leaves_behind() -> None:
    def signal_interrupt_tune_run(number: int, frame: FrameType | None) -> None:
        pass  # Ray Tune's, left installed after a run no signal stopped: it swallows Ctrl-C

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopSignals().caught():
            signal.signal(signal.SIGINT, signal_interrupt_tune_run)  # as Tune's run does
            signal.signal(signal.SIGUSR1, signal_interrupt_tune_run)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGUSR1) is not signal_interrupt_tune_run
        with pytest.raises(KeyboardInterrupt):  # the next Ctrl-C, before the next run's trials
            os.kill(os.getpid(), signal.SIGINT)
            _delivered(lambda: False)
    finally:
        signal.signal(signal.SIGINT, before)


def test_while_held_a_stop_signal_waits_for_the_block_to_end() -> None:
    stop, done = StopSignals(), []
    with stop.held():
        os.kill(os.getpid(), signal.SIGTERM)
        _delivered(lambda: stop.received is not None)
        done.append(True)
    assert done and stop.received == signal.SIGTERM


def test_a_signal_passed_on_reaches_the_callers_own_handler() -> None:
    seen: list[int] = []
    before = signal.signal(signal.SIGHUP, lambda number, frame: seen.append(number))
    try:
        pass_on(signal.SIGHUP)
        pass_on(None)
    finally:
        signal.signal(signal.SIGHUP, before)
    assert seen == [signal.SIGHUP]


def test_a_signal_passed_on_ends_a_process_that_keeps_the_default() -> None:
    code = textwrap.dedent(
        """
        import signal
        from raytune_hp.signals import pass_on
        pass_on(signal.SIGTERM)
        print("still here")
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == -signal.SIGTERM and "still here" not in run.stdout
