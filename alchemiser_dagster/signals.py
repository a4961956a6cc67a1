"""Stopping long-running commands cleanly on SIGTERM as well as SIGINT.

A process started in the background by a non-interactive shell inherits SIGINT as
ignored, and Python installs no SIGTERM handler at all, so `docker stop`, systemd or a
plain `kill` would either do nothing or kill the process without its clean-up (the
stand-in's database, `dagster dev`'s webserver and daemon left running). Long-running
commands install both handlers themselves, whatever they inherited.
"""

import signal
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def raise_keyboard_interrupt_on_stop_signals() -> None:
    """SIGTERM and SIGINT both raise KeyboardInterrupt in the main thread (our clean-up path)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        signal.signal(signum, interrupt)


def on_stop_signals(handler: Callable[[int], None]) -> None:
    """Call `handler(signum)` on SIGTERM or SIGINT, replacing any inherited disposition."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda received, frame: handler(received))
