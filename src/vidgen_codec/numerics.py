"""CPU numerics whose results do not depend on the thread count (issue 18): encoder, decoder
and the workers of a parallel encode or decode (issue 16) all run under `thread_invariant`.

torch is not imported here: an av1-backbone file is encoded and decoded without it (issue 31:
importing torch costs a `vgc` command 1-3 s). The outermost region owns the settings: it applies
them at its entry when torch is loaded, else when torch arrives through `torch_env` (every vgc
module takes torch from there; an inner region's entry applies them too, if torch came another
way), and it puts torch's own settings back at its exit. Regions are per process, entered by
one thread at a time, as torch's settings are process-wide.
"""

from __future__ import annotations

import functools
import sys

_depth = 0  # regions open
_own: tuple | None = None  # torch's own settings, saved when the outermost region applied its


def thread_invariant(fn):
    """Run `fn` with CPU numerics whose results do not depend on the thread count (issue 18).

    - oneDNN (mkldnn) picks the blocking, and so the summation order, of its convolutions by
      thread count (decoded frames differed by +-1 in a few samples between 1 and 2 threads);
      torch's own kernels do not, so oneDNN is off.
    - MKL's sgemm (the refiner's linear layers) splits some products differently at 3 threads
      than at 1, 2, 4, 5 or 8: the thread count is rounded down to a power of two.
    Encoder and decoder both run under it, so the encoder's references are the decoder's. This
    is measured on this machine's CPU, not a proof for every BLAS and ISA: the integer parts
    (entropy decoding, AV1 backbones, colour conversion) are exact everywhere, the float
    networks are exact for any thread count on one machine.
    """
    @functools.wraps(fn)
    def run(*args, **kw):
        global _depth, _own
        _depth += 1
        try:
            if "torch" in sys.modules:
                torch_arrived(sys.modules["torch"])
            return fn(*args, **kw)
        finally:
            _depth -= 1
            if _depth == 0 and _own is not None:
                _restore(sys.modules["torch"], _own)
                _own = None
    return run


def torch_arrived(torch) -> None:
    """torch is loaded (`torch_env` calls this on its import): inside a region whose settings
    are not applied yet, apply them now; the outermost region restores torch's own at its
    exit."""
    global _own
    if _depth and _own is None:
        _own = _apply(torch)


def _apply(torch) -> tuple[bool, int]:
    saved = torch.backends.mkldnn.enabled, torch.get_num_threads()
    torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1 << (max(saved[1], 1).bit_length() - 1))
    return saved


def _restore(torch, saved: tuple[bool, int]) -> None:
    torch.backends.mkldnn.enabled, threads = saved
    torch.set_num_threads(threads)
