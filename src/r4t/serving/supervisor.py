"""``r4t serve`` runs the server in its own process group and forwards signals to it.

LitServe starts an HTTP process, model workers and a multiprocessing manager. Ctrl-C in a
terminal signals the whole foreground process group at once, so each of them would raise
KeyboardInterrupt on its own (a screen of tracebacks, and the manager gone before the
server could shut the others down). Here the server runs in a new session, and SIGINT /
SIGTERM reach only its main process, which stops the others in order and exits 0.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Sequence

GRACE_S = 30


def supervise(argv: Sequence[str]) -> int:
    """Run the server on ``argv`` (flags already checked by `r4t serve`'s parser) until it exits."""
    child = subprocess.Popen([sys.executable, "-m", "r4t.serving.server", *argv], start_new_session=True)

    def forward(signum: int, frame: object) -> None:  # noqa: ARG001
        if child.poll() is None:
            child.send_signal(signal.SIGINT)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # a second Ctrl-C while waiting: keep waiting for the shutdown
                continue
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if child.poll() is None:
            try:
                child.wait(timeout=GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0 if code in (0, -signal.SIGINT) else code
