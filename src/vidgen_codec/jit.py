"""Numba, when it is installed: the one place that decides whether kernels are compiled.

`njit(fn)` returns `fn` compiled by Numba on its first call (nopython, GIL released, cached on
disk: Numba's cache, `__pycache__` beside the kernel's module, or NUMBA_CACHE_DIR), and `fn`
unchanged without Numba; `AVAILABLE` says which. Numba itself is imported at that first call,
not when a kernel module is imported: importing it and loading a cached kernel cost 0.4-1 s
of a command on 2 cores (issue 31), which a decode that never runs a kernel need not pay.
Every kernel module (entropy.rans_jit, pictures.yuv420_jit) keeps a numpy path as its fallback
and reference, so the results are the same either way. Should Numba be installed but fail to
import (a NumPy it was not built for), each kernel runs as plain Python, with one warning.

`Tier` lets a module whose numpy path is fast run it until the process has done enough work
that compiling pays (the JIT tiers of language runtimes): a choice of speed, never of results.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import threading
import warnings

AVAILABLE = importlib.util.find_spec("numba") is not None
_LOCK = threading.RLock()  # one first compile at a time (re-entrant: it swaps a module's others)
_broken: list[str] = []  # why numba failed to import, once it has


def _numba():
    """The numba module, or None (and one warning) when it fails to import."""
    if _broken:
        return None
    try:
        import numba
    except Exception as e:  # installed but unusable: an ImportError, or numba's own check
        _broken.append(f"{type(e).__name__}: {e}")
        warnings.warn(f"numba failed to import ({_broken[0]}); kernels run as Python",
                      RuntimeWarning, stacklevel=3)
        return None
    return numba


def usable() -> bool:
    """Numba is installed and has not failed to import."""
    return AVAILABLE and not _broken


class _Lazy:
    """A kernel compiled at its first call. Kernels call each other by module globals, which
    Numba resolves when it compiles: so the first call swaps every lazy kernel of the
    caller's module for its compiled form, under one lock, before any thread may call it."""

    def __init__(self, fn):
        self.fn = fn
        self.py_func = fn  # as Numba's dispatchers name the Python function
        self._compiled = None
        self._ready = False  # compiled, and the module's other kernels swapped
        functools.update_wrapper(self, fn)

    def compiled(self):
        if not self._ready:
            with _LOCK:
                if self._compiled is None:
                    numba = _numba()
                    self._compiled = (self.fn if numba is None
                                      else numba.njit(cache=True, nogil=True)(self.fn))
                    names = self.fn.__globals__
                    for name, value in list(names.items()):
                        if isinstance(value, _Lazy):
                            names[name] = value.compiled()
                    self._ready = True
        return self._compiled

    def __call__(self, *args, **kwargs):
        return self.compiled()(*args, **kwargs)


def njit(fn):
    """`fn` compiled by Numba at its first call (integer kernels only: the same results on
    every machine), or `fn` itself without Numba."""
    return _Lazy(fn) if AVAILABLE else fn


class Tier:
    """Whether to call a compiled kernel rather than its numpy path, when Numba is installed:
    once another kernel has loaded Numba (the search's SSIM, the Lanczos upsampler), or once
    this process has done, or has been told to expect (`expect`), more than `threshold` units
    of work through this tier (pixels, symbols). The counts are shared by the threads of a
    process and only ever affect speed."""

    def __init__(self, threshold: int):
        self.threshold = threshold
        self.done = 0
        self.expected = 0

    def expect(self, work: int) -> None:
        """A job about to do `work` more units says so: if that passes the threshold, the
        kernels are used from the start (their start paid once, not after numpy's share)."""
        self.expected = max(self.expected, self.done + work)

    def compiled(self, work: int) -> bool:
        self.done += work
        return usable() and (max(self.done, self.expected) > self.threshold
                             or "numba" in sys.modules)
