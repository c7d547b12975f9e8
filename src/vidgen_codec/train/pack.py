"""`vgc train pack`: the training data as one folder small enough to carry to a GPU machine.

The device tool carries at most 64 MiB of ignored files with a run; `../shared/data` is about
30 MB of photos and videos, so the pack is those files (the held-out clips too: training skips
them, validation reads them), in the layout every `vgc train --data` reads, with PACK.json
listing each file's size and SHA-256. With `--refiner-sequences N` the refiner's STEM round
trips are precomputed too (refiner_pack.py: the frame payloads, about 6.5 KB a sequence), so
that a GPU trains the refiner without waiting on encoding; the other models' samplers (motion
search for the residual coder) still run on the GPU machine's CPU cores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from ..errors import InputError
from .data import IMAGE_EXT, VIDEO_EXT, training_files

MAX_MIB = 60.0  # under the device tool's 64 MiB carry, with room for the code's own files


def make_pack(data: str, out: str, max_mib: float = MAX_MIB, *, refiner_sequences: int = 0,
              **pool_options) -> tuple[dict, dict | None, float]:
    """The whole `vgc train pack`: copy the training files (refused before copying when they
    alone exceed `max_mib`), code `refiner_sequences` refiner sequences into it
    (refiner_pack.build_refiner_pool with `pool_options`), and refuse the result when the
    folder as made exceeds `max_mib`. A refused or failed pack is removed.
    Returns (PACK.json's manifest, the refiner pool's index or None, the pack's MiB)."""
    from .refiner_pack import build_refiner_pool

    manifest = build_pack(data, out, max_mib)
    pool = None
    try:
        if refiner_sequences:
            pool = build_refiner_pool(data, out, refiner_sequences, **pool_options)
        mib = pack_mib(out)
        if mib > max_mib:
            raise InputError(f"{out}: {mib:.1f} MiB, over --max-mib {max_mib:g}; removed")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return manifest, pool, mib


def build_pack(data: str, out: str, max_mib: float = MAX_MIB) -> dict:
    """Copy the training files of `data` into `out` with PACK.json (no refiner pool)."""
    files = training_files(data, (), IMAGE_EXT | VIDEO_EXT)
    if not files:
        raise InputError(f"no images or videos under {data}")
    total = sum(p.stat().st_size for p in files)
    if total > max_mib * 2**20:
        raise InputError(f"{data}: {total / 2**20:.1f} MiB of training files, over the "
                         f"{max_mib:g} MiB of a pack")
    dst = Path(out)
    if dst.exists() and any(dst.iterdir()):
        raise InputError(f"{out} exists and is not empty")
    entries = []
    for p in files:
        rel = p.relative_to(data)
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, dst / rel)
        entries.append({"file": str(rel), "bytes": p.stat().st_size,
                        "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    manifest = {"source": str(Path(data).resolve()), "files": entries, "bytes": total}
    (dst / "PACK.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def pack_mib(out: str) -> float:
    """The size of everything in a pack folder, MiB."""
    return sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) / 2**20
