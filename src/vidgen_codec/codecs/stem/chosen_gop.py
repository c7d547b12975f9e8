"""What the av1 backbone's encoder tries on the synthesised GOP its search chose (issue 30),
in this order (`av1._code_gop`), each kept only where the GOP then scores higher within its
budget:

    split     a backbone added at each interval's worst rebuilt frame (`extra_backbones`)
    slower    backbones under SLOWER_FROM apart coded again at the slower preset
    mapped    block mode maps (`block_maps`)
    upsampled a pretrained upsampler in place of Lanczos, at half or quarter scale (`upsamplers`)

Each codes the structure again through `synth_gop.candidate` (the rate fit and the rebuild)
where it must.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from ...bitstream.framing import chunk_bytes
from ...bitstream.ids import FrameType
from ...pictures.fit import BUDGET_SLACK, choose_within_budget
from . import backbone as bb
from . import block_maps
from . import extra_backbones
from . import synth_gop
from .candidate import Candidate, score

log = logging.getLogger(__name__)


def split(codec, st, best: Candidate, frames, originals, budget, ledger) -> Candidate:
    """The chosen synthesised candidate with one more backbone in each interval whose worst
    rebuilt frame is more than `extra_backbones.SPLIT_DB` under its two backbones' mean (luma
    PSNR): that frame, coded by AV1 with the others (the interval's grid stays; the header
    lists the extra backbones). Kept as the search keeps a coding
    (`pictures.fit.choose_within_budget`: the better score within the budget). Once: a
    second and third round, kept while the score rose, added 4 more backbones on vtest360 at
    0.005 bpp for +2.2 dB of PSNR and -0.005 JOD, and cost a fit each (benchmarks/RESULTS.md,
    tenth session)."""
    if not (st.split and best.synth and best.frame_db):
        return best
    pos = bb.GopHeader(best.scale, len(frames), best.interval).positions()
    add = extra_backbones.split_points(best.frame_db, pos)
    if not add:
        return best
    got = synth_gop.candidate(codec, st, frames, originals, best.interval, best.scale, budget,
                              ledger, tuple(add))
    log.debug("GOP at %d: split %s: %s against %s", frames[0][0], add,
              (got.bytes, round(got.score, 3)), (best.bytes, round(best.score, 3)))
    return choose_within_budget([best, got], budget, lambda c: c.score, lambda c: c.bytes)


def slower(codec, st, best: Candidate, frames, originals, budget, ledger) -> Candidate:
    """The chosen synthesised candidate coded again with its backbones at the preset that
    intervals from SLOWER_FROM get (`synth_gop.synth_settings`: 4 below the file's, not below
    4), where its own interval is shorter; kept as the search keeps a coding (the better score
    within the budget; at a fixed CRF, with no budget, the better score whatever its bytes, as
    `split` keeps one). One fit of the chosen structure, not every short interval's candidate:
    with the search's candidates of intervals 2 and 3 coded that way, cup360 at 0.0025 bpp
    went from interval 4 to interval 2 at 0.12 JOD less, and at 0.005 it scored 0.03 JOD under
    this re-code (benchmarks/RESULTS.md, eleventh session)."""
    if not (st.speed.short_slower and best.synth) or best.interval >= synth_gop.SLOWER_FROM \
            or synth_gop.synth_settings(st.settings, synth_gop.SLOWER_FROM) == st.settings:
        return best
    got = synth_gop.candidate(codec, st, frames, originals, best.interval, best.scale, budget,
                              ledger, best.extra, slower=True)
    log.debug("GOP at %d: slower preset %s against %s", frames[0][0],
              (got.bytes, round(got.score, 3)), (best.bytes, round(best.score, 3)))
    return choose_within_budget([best, got], budget, lambda c: c.score, lambda c: c.bytes)


def upsampled(st, best: Candidate, originals) -> Candidate:
    """A synthesised reduced-scale candidate rebuilt with each pretrained upsampler the state
    tries (issue 33): the one whose GOP scores best by the search's measure, where it beats
    the header's own upsampler (Lanczos), so a GOP is never worse than Lanczos on it. The AV1
    units and the block mode maps stay (they were chosen with Lanczos: `mapped` runs first);
    the header names the prior (PRIOR_TAG more bytes, charged to the GOP's rate)."""
    if not (st.priors and best.synth and best.scale > 1) or best.upsampled:
        return best
    best = replace(best, upsampled=True)
    head, parts = bb.unpack_gop(best.payload)
    t0 = best.payload.frame_index
    units = [p.streams[-1] for p in parts if p.frame_type != FrameType.M]
    hp, wp = originals[0].shape[:2]
    real = [o[: st.height, : st.width] for o in originals]
    pos = head.positions()
    coded = bb.coded_pictures(units, head.scale, st)  # dav1d once, each prior upsamples
    for pid, module, tag in st.priors:
        backs = [bb.to_picture(p, head.scale, st.height, st.width, hp, wp, prior=module)
                 for p in coded]
        named = replace(head, lanczos=False, prior=pid, prior_tag=tag)
        if head.maps:  # the maps (and the mode bits they count from) stay as chosen
            rec = block_maps.rebuilt(named, backs, st.height, st.width)
        else:
            modes, rec = synth_gop.rebuild(st, backs, pos, originals)
            named = replace(named, modes=modes)
        got = score(rec, real)
        log.debug("GOP at %d, prior %d: %.3f (best so far %.3f)", t0, pid, got, best.score)
        if got > best.score:
            payload = bb.pack_gop(t0, named, parts)
            best = replace(best, payload=payload, bytes=chunk_bytes(payload), score=got)
    return best


def mapped(codec, st, best: Candidate, frames, originals, budget, ledger) -> Candidate:
    """A synthesised candidate with block mode maps (`block_maps`, issue 30 part 1) where
    they score better by the search's measure. The maps are chosen on its backbones (with
    Lanczos: a prior is tried after, `upsampled`); when the GOP would then be over its budget,
    the structure is coded again with the maps' bytes taken from the budget, and the maps
    chosen anew on those backbones."""
    if not (st.speed.maps and best.synth):
        return best
    got = with_maps(st, best, originals)
    if got is not None and budget is not None and got.bytes > BUDGET_SLACK * budget:
        room = budget - (got.bytes - best.bytes)
        got = None
        if room > budget / 2:  # maps worth half the budget never pay
            again = synth_gop.candidate(codec, st, frames, originals, best.interval,
                                        best.scale, room, ledger, best.extra, best.slower)
            got = with_maps(st, again, originals)
            if got is not None and got.bytes > BUDGET_SLACK * budget:
                got = None
    log.debug("GOP at %d: maps %s", frames[0][0],
              None if got is None else (got.bytes, round(got.score, 3), round(best.score, 3)))
    return got if got is not None and got.score > best.score else best


def with_maps(st, c: Candidate, originals) -> Candidate | None:
    """The candidate with the block mode maps `block_maps.choose` makes for its decoded
    backbones, scored; None when no block would leave its interval's mode."""
    head, parts = bb.unpack_gop(c.payload)
    units = [p.streams[-1] for p in parts if p.frame_type != FrameType.M]
    hp, wp = originals[0].shape[:2]
    backs = bb.backbone_pictures(units, head.scale, st, hp, wp, head.lanczos)  # no prior yet
    h, w = st.height, st.width
    sym, fields = block_maps.choose(backs, head.positions(), head.modes, originals, h, w,
                                    c.bytes)
    if sym is None:
        return None
    head = replace(head, maps=block_maps.section(sym))
    payload = bb.pack_gop(c.payload.frame_index, head, parts)
    real = [o[:h, :w] for o in originals]
    return replace(c, payload=payload, bytes=chunk_bytes(payload),
                   score=score(block_maps.rebuilt(head, backs, h, w, fields), real))
