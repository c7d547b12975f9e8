"""Independent pieces of work on a few threads: `map_threads(fn, items)`.

The integer kernels (`jit.njit`: Numba, GIL released) and numpy's array operations run
outside the GIL, so threads over independent items (a synthesised GOP's intervals) use the
cores that a single kernel leaves idle. Each item's result depends on that item only, so the
output is the same for any number of threads. The count is torch's (`torch.set_num_threads`,
what `vgc` sets from the machine), so one setting governs every kind of parallel work
(`thread_count`: the same count where torch is not loaded). A
worker must not change torch's global state (`numerics.thread_invariant` does): the workers
would race on it.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def thread_count() -> int:
    """torch's thread count where torch is loaded (`numerics.thread_invariant` may have
    lowered it); else OMP_NUM_THREADS (`--threads` sets it), or the CPUs this process may run
    on (torch's own default counts physical cores: this only changes the speed, never the
    result; an av1 file's decode may not load torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_threads(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """[fn(item) for item in items], in order, on up to torch's thread count of threads."""
    items = list(items)
    workers = min(thread_count(), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
