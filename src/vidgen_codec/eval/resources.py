"""Wall time and peak memory of a block of work, for the speed-and-cost columns.

    with Cost(device) as c:
        work()
    c.seconds, c.peak_mib

On the CPU, `peak_mib` is the peak resident memory (RSS) of this process while the block ran,
sampled every 5 ms from /proc/self/statm (elsewhere: the process's lifetime peak RSS from
getrusage), so it includes what the process already held (Python, torch, the reference clip).
On CUDA it is the peak memory torch allocated on the device during the block.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_STATM = "/proc/self/statm"


def rss_bytes() -> int:
    """Resident memory of this process now (lifetime peak where /proc is missing)."""
    try:
        with open(_STATM) as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class Cost:
    """Context manager measuring seconds and peak memory (MiB) of its block."""

    def __init__(self, device: str = "cpu", interval: float = 0.005):
        self.device = device
        self.interval = interval
        self.seconds = 0.0
        self.peak_mib = 0.0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Cost":
        if self.device == "cuda":
            from ..torch_env import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self._peak = rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            from ..torch_env import torch

            torch.cuda.synchronize()
            self.seconds = time.perf_counter() - self._t0
            self.peak_mib = torch.cuda.max_memory_allocated() / 2 ** 20
            return
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, rss_bytes())
        self.peak_mib = self._peak / 2 ** 20

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, rss_bytes())
