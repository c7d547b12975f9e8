"""Independent pieces of work on a few threads: `map_threads(fn, items)`.

The integer kernels (`jit.njit`: Numba, GIL released) and numpy's array operations run
outside the GIL, so threads over independent items (a synthesised GOP's intervals) use the
cores that a single kernel leaves idle. Each item's result depends on that item only, so the
output is the same for any number of threads. The count is torch's (`torch.set_num_threads`,
what `vgc` sets from the machine), so one setting governs every kind of parallel work. A
worker must not change torch's global state (`numerics.thread_invariant` does): the workers
would race on it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_threads(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """[fn(item) for item in items], in order, on up to torch's thread count of threads."""
    import torch

    items = list(items)
    workers = min(torch.get_num_threads(), len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
