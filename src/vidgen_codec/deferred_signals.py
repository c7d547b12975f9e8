"""SIGTERM and SIGHUP as an exception (`Terminated`, which unwinds like Ctrl-C so that every
writer removes its temporary file), held back while a temporary output file is created and its
removal arranged, so that a signal cannot land between the two and leave the file behind:

    with signals_deferred():
        tmp = create the temporary file
        register its removal (a finalizer, a variable a `finally` reads)
    # a SIGTERM or SIGHUP that came meanwhile raises Terminated here

`vgc`'s entry point (cli.run) installs `on_signal` for both. Python runs signal handlers in
the main thread whichever thread the signal reached, so a flag is enough (a signal mask would
not be: the process's other threads, torch's among them, would take the signal instead).
Outside `vgc` (the library called directly) nothing is installed and the block just runs.
SIGINT (Ctrl-C) keeps Python's own handling (KeyboardInterrupt at once).
"""

from __future__ import annotations

import contextlib
import signal

_depth = 0  # signals_deferred blocks open (main thread)
_pending: list[int] = []  # signals that came during them


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so every writer removes its temporary file."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def on_signal(signum, frame):
    signal.signal(signum, signal.SIG_IGN)  # a second one does not interrupt the cleanup
    if _depth:
        _pending.append(signum)
        return
    raise Terminated(signum)


@contextlib.contextmanager
def signals_deferred():
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if not _depth and _pending:
        signum = _pending[0]
        _pending.clear()
        raise Terminated(signum)
