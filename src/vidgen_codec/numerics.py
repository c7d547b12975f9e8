"""CPU numerics whose results do not depend on the thread count (issue 18): encoder, decoder
and the workers of a parallel encode or decode (issue 16) all run under `thread_invariant`."""

from __future__ import annotations

import functools

import torch


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
        mkldnn, threads = torch.backends.mkldnn.enabled, torch.get_num_threads()
        torch.backends.mkldnn.enabled = False
        torch.set_num_threads(1 << (max(threads, 1).bit_length() - 1))
        try:
            return fn(*args, **kw)
        finally:
            torch.backends.mkldnn.enabled = mkldnn
            torch.set_num_threads(threads)
    return run
