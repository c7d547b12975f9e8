"""Numba, when it is installed: the one place that decides whether kernels are compiled.

`njit(fn)` compiles `fn` on first use (nopython, GIL released, cached on disk: Numba's cache,
`__pycache__` beside the kernel's module, or NUMBA_CACHE_DIR) and otherwise returns `fn`
unchanged; `AVAILABLE` says which. Every kernel module (entropy.rans_jit, pictures.yuv420_jit)
keeps a numpy path as its fallback and reference, so the results are the same either way.
"""

from __future__ import annotations

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this is the clean fallback
    numba = None

AVAILABLE = numba is not None


def njit(fn):
    """`fn` compiled by Numba (integer kernels only: the same results on every machine)."""
    return numba.njit(cache=True, nogil=True)(fn) if AVAILABLE else fn
