"""The refiner's STEM round trips, precomputed into a training pack (issue 17, part 2).

A refiner training sequence is a crop of a training clip coded by STEM and decoded again
(refiner_data.py). Coding is the slow half: a 128x128x33 av1-backbone sequence takes about 2 s
to encode (SVT-AV1, the structure's motion search) and 0.13 s to decode on two CPU cores, while
a GPU trains the refiner on it in a few steps. So `vgc train pack --refiner-sequences N` codes
N sequences once, on any machine, and stores what the encoder wrote, not the pixels:

    PACK/refiner_pool/index.json    settings (crop size, window, sequence length, backbones,
                                    target range, seed, STEM weights identity) and per
                                    sequence: the recipe (clip, first frame, stride, length,
                                    corner, flip, target, structure), the SHA-256 of the
                                    original crop, the codec config, and where its frame
                                    payloads lie in payloads.bin
    PACK/refiner_pool/payloads.bin  the frame payloads (bitstream_spec.md's frame payload
                                    layout), about 6.5 KB per sequence

Training from the pack (`vgc train refiner --data PACK` with the same crop size, window and
backbones) rebuilds each original crop from the pack's clips, checks its hash, and decodes the
payloads with the same STEM weights: the refiner sees exactly the sequences a live round trip
would have given, and the GPU waits on decoding only (in a background thread, 8 sequences
ahead), not on encoding. On the CPU each sequence is decoded when it is needed, in the training
thread: a second thread of torch work on the same cores slowed training steps by about 25 %.
The pool is walked in a seeded random order and cycled.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
from pathlib import Path

from ..torch_env import torch
from tqdm import tqdm

from ..bitstream.headers import FramePayload
from ..bitstream import FORMAT_MAJOR
from ..errors import InputError
from .refiner_data import (BPP_RANGE, RefinerSampler, as_u8, crop_of, refiner_clips, stem_decode,
                           usable_clips)

POOL_DIR = "refiner_pool"
FORMAT = "vgc-refiner-pool-1"


def _sha(x: torch.Tensor) -> str:
    return hashlib.sha256(as_u8(x).numpy().tobytes()).hexdigest()


def build_refiner_pool(data: str, out: str, sequences: int, *, size: int = 128,
                       seq_len: int = 33, window: int = 9, backbones=("av1",),
                       bpp_range: tuple[float, float] = BPP_RANGE, seed: int = 0,
                       stem_weights=None, progress: bool = True) -> dict:
    """Code `sequences` refiner training sequences of `data` into OUT/refiner_pool, their
    targets drawn log-uniformly from `bpp_range`."""
    from ..codecs.stem import StemCodec

    codec = StemCodec.load(stem_weights)
    sampler = RefinerSampler(refiner_clips(data, seed), codec, size=size, seq_len=seq_len,
                             window=window, seed=seed, backbones=tuple(backbones),
                             bpp_range=tuple(bpp_range))
    dst = Path(out) / POOL_DIR
    dst.mkdir(parents=True, exist_ok=True)
    entries, offset = [], 0
    with open(dst / "payloads.bin.tmp", "wb") as blob:
        for _ in tqdm(range(sequences), desc="refiner pool", unit="seq", disable=not progress):
            recipe, orig, _, (payloads, config) = sampler.coded_sequence()
            spans = []
            for p in payloads:
                b = p.pack(FORMAT_MAJOR)
                blob.write(b)
                spans.append([offset, len(b)])
                offset += len(b)
            entries.append({"recipe": recipe, "orig_sha256": _sha(orig),
                            "config": config.hex() if config is not None else None,
                            "payloads": spans})
    index = {"format": FORMAT, "size": size, "seq_len": seq_len, "window": window,
             "backbones": list(backbones), "bpp_range": list(bpp_range), "seed": seed,
             "stem_sha256": codec.weights_sha256.hex(), "bytes": offset, "sequences": entries}
    (dst / "payloads.bin.tmp").replace(dst / "payloads.bin")
    (dst / "index.json").write_text(json.dumps(index))
    return index


class PackedPool:
    """The precomputed sequences of a pack, decoded a few ahead in a background thread."""

    def __init__(self, index: dict, blob: bytes, clips, codec, seed: int,
                 ahead: int = 8):
        self.index, self.blob, self.codec = index, blob, codec
        # the clips exactly as the pack's sampler filtered them
        self.clips = usable_clips(clips, index["size"], index["window"])
        self.order = list(range(len(index["sequences"])))
        random.Random(seed).shuffle(self.order)
        self.error: BaseException | None = None
        self.queue: queue.Queue | None = None
        self.at = 0  # next position in `order` (decoding in the caller's thread)
        if ahead:
            self.queue = queue.Queue(maxsize=ahead)
            threading.Thread(target=self._fill, daemon=True).start()

    @classmethod
    def open(cls, data: str, clips, codec, *, size: int, window: int, backbones,
             seed: int, ahead: int = 8) -> "PackedPool | None":
        """The pack's pool if `data` has one made for this crop size, window, backbones and
        STEM weights; None (live round trips) otherwise. `ahead`: sequences decoded ahead in
        a background thread (0: each decoded when asked for, in the caller's thread)."""
        path = Path(data) / POOL_DIR / "index.json"
        if not path.exists():
            return None
        index = json.loads(path.read_text())
        if index.get("format") != FORMAT:
            raise InputError(f"{path}: not a refiner pool of this version ({FORMAT})")
        fits = (index["size"] == size and index["window"] == window
                and tuple(index["backbones"]) == tuple(backbones)
                and index["stem_sha256"] == codec.weights_sha256.hex())
        if not fits or not index["sequences"]:
            tqdm.write(f"{path}: made for another crop size, window, backbone set or STEM "
                       "weights (or empty); coding round trips live")
            return None
        blob = (path.parent / "payloads.bin").read_bytes()
        if len(blob) != index["bytes"]:
            raise InputError(f"{path.parent / 'payloads.bin'}: {len(blob)} bytes, the index "
                             f"says {index['bytes']}")
        tqdm.write(f"refiner sequences: {len(index['sequences'])} precomputed in {path.parent}")
        return cls(index, blob, clips, codec, seed, ahead)

    def decode(self, k: int):
        """Sequence k as the sampler's (original u8, intermediate u8, types, levels)."""
        e = self.index["sequences"][k]
        orig = crop_of(self.clips, e["recipe"])
        if _sha(orig) != e["orig_sha256"]:
            raise InputError(f"refiner pool sequence {k}: its original crop differs from the "
                             "pack's (the clips changed since the pack was made)")
        payloads = [FramePayload.unpack(self.blob[o:o + n], major=FORMAT_MAJOR)
                    for o, n in e["payloads"]]
        config = bytes.fromhex(e["config"]) if e["config"] is not None else None
        t, _, h, w = orig.shape
        inter, types, levels = stem_decode(self.codec, payloads, config, t, h, w)
        return as_u8(orig), as_u8(inter), types, levels

    def _fill(self) -> None:
        try:
            while True:
                for k in self.order:
                    self.queue.put(self.decode(k))
        except BaseException as e:  # raised again in the training thread by next()
            self.error = e
            self.queue.put(None)

    def next(self):
        if self.queue is None:
            k, self.at = self.order[self.at % len(self.order)], self.at + 1
            return self.decode(k)
        item = self.queue.get()
        if item is None:
            raise self.error
        return item
