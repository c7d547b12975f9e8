"""`threads.map_threads`: results in the items' order, the same for any thread count."""

from __future__ import annotations

import time

import torch

from vidgen_codec.threads import map_threads
from vidgen_codec.codecs.stem import synth_gop


def test_map_threads_keeps_order_for_any_thread_count():
    def slow_square(x):
        time.sleep(0.002 * (5 - x % 5))  # later items finish first
        return x * x

    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert map_threads(slow_square, range(12)) == [x * x for x in range(12)]
            assert map_threads(slow_square, []) == []
    finally:
        torch.set_num_threads(threads)


def test_a_synthesised_gop_is_the_same_on_any_thread_count():
    """The intervals rebuilt on threads (decoder, the encoder's rebuild, its maps) give the
    same modes, maps and frames on 1, 2 and 3 threads."""
    from types import SimpleNamespace

    from test_stem_synth import textured
    from vidgen_codec.codecs.stem import block_maps
    from vidgen_codec.codecs.stem.decoder import synthesise_gop
    from vidgen_codec.stem_gop import GopHeader

    h, w = 48, 64
    frames = [textured(h, w, t) for t in range(13)]
    pos = [0, 4, 8, 12]
    backs = [frames[p] for p in pos]
    st = SimpleNamespace(height=h, width=w)
    head = GopHeader(1, 13, 4, synth=True)
    threads = torch.get_num_threads()
    got = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            modes, rec = synth_gop.rebuild(st, backs, pos, frames)
            sym, fields = block_maps.choose(backs, pos, modes, frames, h, w, gop_bytes=10**6)
            assert sym is not None
            mapped = GopHeader(1, 13, 4, synth=True, modes=modes, maps=block_maps.section(sym))
            decoded = synthesise_gop(mapped, 0, backs)
            got.append((modes, sym.tobytes(), [f.tobytes() for f in rec],
                        [f.tobytes() for f in block_maps.rebuilt(mapped, backs, h, w, fields)],
                        [f.tobytes() for _, f in decoded]))
    finally:
        torch.set_num_threads(threads)
    assert got[0] == got[1] == got[2]
    assert len(got[0][4]) == 13 and head.gaps() == 3
