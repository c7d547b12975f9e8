"""`vgc info`: what a .vgc file holds, from its headers and chunk table alone (no decoding)."""

from __future__ import annotations

from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .bitstream import FRAME_TYPE_LETTERS, ContainerReader, chunk_type_name
from .bitstream.ids import CodecId, EntropyCoderId, FrameType
from .codecs.configs import backbone_name, check_codec_config, chunk_frames
from .errors import FormatError, WeightsError
from .preflight import check_header, require_file

if TYPE_CHECKING:
    from .stem_gop import GopHeader


def _name(enum, value: int) -> str:
    try:
        return enum(value).name.lower()
    except ValueError:
        return f"unknown({value})"


def describe(path: str) -> dict:
    """A JSON-ready description of the file (see `vgc info --help` for the fields)."""
    require_file(path, ".vgc")
    with ContainerReader(path) as rd:
        h = rd.header
        check_header(h, rd.version)  # what decode refuses before decoding, info refuses too
        rd.read_index()
        chunks = rd.chunks()
        check_codec_config(h.codec_id, rd.codec_config)  # as the decoders do (spec 7.6)
        backbone = backbone_name(h.codec_id, rd.codec_config)
        frames, gops, payload_bytes = [], [], 0
        for fc in rd.iter_frames():
            payload_bytes += sum(map(len, fc.payload.streams))
            rows, gop = _frame_entries(fc, backbone)
            frames += rows
            gops += [gop] if gop else []
        if any(f["frame"] >= h.frame_count for f in frames):
            raise FormatError(f"a chunk holds frames past the file's {h.frame_count} frames")
        twice = [k for k, n in Counter((f["frame"], f["chunk"]) for f in frames).items() if n > 1]
        if twice:
            raise FormatError(f"frame {twice[0][0]} is in two {twice[0][1]} chunks")
        held = {f["frame"] for f in frames}  # all below frame_count (checked above)
        if len(held) != h.frame_count:
            raise FormatError(f"the header says {h.frame_count} frames; the chunks hold "
                              f"{len(held)}")
        refine = rd.refine
        major, minor = rd.version
        size = rd.file_size
    pixels = h.width * h.height
    n = max(h.frame_count, 1)
    fps = Fraction(h.fps_num, h.fps_den)
    duration = h.frame_count / fps
    by_chunk: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # name -> [count, bytes]
    for c in chunks:
        entry = by_chunk[chunk_type_name(c.type)]
        entry[0] += 1
        entry[1] += c.size
    by_ftype: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in frames:
        by_ftype[f["type"]][0] += 1
        by_ftype[f["type"]][1] += f["bytes"]
    return {
        "file": str(path),
        "format_version": f"{major}.{minor}",
        "codec": _name(CodecId, h.codec_id),
        "codec_id": h.codec_id,
        "model_id": h.model_id,
        "weights_sha256": h.weights_sha256.hex(),
        "entropy_coder": _name(EntropyCoderId, h.entropy_coder_id),
        "encoder": h.encoder_version,
        "width": h.width,
        "height": h.height,
        "fps": f"{fps.numerator}/{fps.denominator}",
        "frames": h.frame_count,
        "duration_s": float(duration),
        "bytes": size,
        "bpp": size * 8 / (pixels * n),
        "kbit_per_s": size * 8 / 1000 / float(duration) if duration else 0.0,
        "target_bpp": h.target_bpp or None,
        "overhead_bytes": size - payload_bytes,
        "overhead_share": (size - payload_bytes) / size,
        "backbone": backbone,
        "gop_size": h.gop_size,
        "backbone_interval": h.backbone_interval,
        "frame_types": _display_order_types(frames),
        "av1_qindex": _quantiser(frames),
        "av1_gops": _gop_structures(gops),
        "refine": None if refine is None else {
            "seed": refine.seed, "refiner_sha256": refine.refiner_sha256.hex(),
            "model_id": refine.model_id},
        "chunks": {k: {"count": c, "bytes": b, "bpp": b * 8 / (pixels * n)}
                   for k, (c, b) in by_chunk.items()},
        "frame_type_stats": {k: {"frames": c, "bytes": b, "bpp": b * 8 / (pixels * c)}
                             for k, (c, b) in by_ftype.items()},
        "per_frame": frames,
    }


def check_weights_id(path: str, weights: str | None = None) -> None:
    """Refuse a file whose weights are not `weights` (default: the shipped ones), as decode
    would; from the configs alone, so no torch (weights.folder_identity)."""
    from .registry import codec_by_id
    from .weights import folder_identity, repo_weights_dir

    with ContainerReader(path) as rd:
        h, version = rd.header, rd.version
    folder = Path(weights) if weights else repo_weights_dir() / codec_by_id(h.codec_id).weights
    sha = folder_identity(folder, legacy=version[0] < 2)
    if sha is None:
        raise WeightsError(f"no readable weights config in {folder}")
    if not h.weights_match(sha):
        raise WeightsError(f"file was encoded with weights {h.weights_sha256.hex()[:16]} "
                           f"({h.model_id}); {'the weights in ' + str(folder) if weights else 'the shipped weights'} "
                           f"are {sha.hex()[:16]}: decode needs the matching --weights folder")


def _frame_entries(fc, backbone: str | None) -> tuple[list[dict], GopHeader | None]:
    """(per-frame rows of a frame chunk: one, or a whole GOP's for a stem av1 GOP chunk, as the
    codec says (`codecs.configs.chunk_frames`); each frame's bytes its streams, the first
    frame's also the chunk's framing; the GOP's header, or None)."""
    p = fc.payload
    common = {"chunk": chunk_type_name(fc.chunk_type), "offset": fc.offset,
              "rate_code": p.rate_code}
    held, head = chunk_frames(backbone, p, chunk=fc.chunk_index)
    rows = [{"frame": i, "type": FRAME_TYPE_LETTERS[FrameType(t)], "bytes": b or 0,
             "qindex": q, **common} for i, t, b, q in held]
    rows[0]["bytes"] += fc.size - sum(r["bytes"] for r in rows)
    return rows, head


def _gop_structures(gops: list[GopHeader]) -> list[dict] | None:
    """What the av1 encoder chose per GOP (the SEQUENCE_HEADER's gop_size and
    backbone_interval are the plan's, informative): counts of (interval, scale, synthesised,
    upsampler, block mode maps sent, extra backbones sent), the maps' bytes and the extra
    backbones' count."""
    count, map_bytes, extra = Counter(), Counter(), Counter()
    for g in gops:
        key = (g.interval, g.scale, g.synth, _upsampler(g), bool(g.maps), bool(g.extra))
        count[key] += 1
        map_bytes[key] += len(g.maps)
        extra[key] += len(g.extra)
    if not count:
        return None
    return [{"interval": key[0], "scale": key[1], "synthesised": key[2], "upsampler": key[3],
             "block_maps": key[4], "block_map_bytes": map_bytes[key],
             "extra_backbones": extra[key], "gops": n} for key, n in sorted(count.items())]


def _upsampler(g: GopHeader) -> str | None:
    """How a reduced-scale GOP's backbones are upsampled (None at full scale)."""
    from .stem_gop import PRIORS

    if g.scale == 1:
        return None
    return PRIORS[g.prior] if g.prior else "lanczos" if g.lanczos else "bilinear"


_SCALE_NAMES = {1: "full", 2: "half", 4: "quarter"}


def _quantiser(frames: list[dict]) -> dict | None:
    """AV1 base_q_idx (0..255, higher is coarser) over the backbone frames, when known."""
    q = [f["qindex"] for f in frames if f["qindex"] is not None]
    if not q:
        return None
    return {"min": min(q), "mean": sum(q) / len(q), "max": max(q), "frames": len(q)}


def _display_order_types(frames: list[dict]) -> str:
    """One letter per frame, in display order (a frame made of several chunks counts once)."""
    types = {f["frame"]: f["type"] for f in frames}
    return "".join(types[k] for k in sorted(types))


def format_text(d: dict, *, per_frame: bool = False) -> str:
    lines = [
        f"file        {d['file']}",
        f"format      vgc {d['format_version']}   encoder: {d['encoder']}",
        f"codec       {d['codec']} (id {d['codec_id']})   model: {d['model_id']} "
        f"[{d['weights_sha256'][:12]}]   entropy: {d['entropy_coder']}",
        f"video       {d['width']}x{d['height']} @ {d['fps']} fps, {d['frames']} frames, "
        f"{d['duration_s']:.3f} s",
        f"size        {d['bytes']} bytes   {d['bpp']:.5f} bpp   {d['kbit_per_s']:.2f} kbit/s"
        + (f"   (target {d['target_bpp']:g} bpp)" if d["target_bpp"] else ""),
        f"overhead    {d['overhead_bytes']} bytes ({100 * d['overhead_share']:.2f} %) of "
        "headers, framing, index: everything but codec streams",
        f"structure   gop {d['gop_size']}, backbone interval {d['backbone_interval']}"
        + (" (planned)" if d.get("av1_gops") else "")
        + (f", {d['backbone']} backbone" if d["backbone"] else ""),
        f"frame types {_abbrev(d['frame_types'])}",
    ]
    if d.get("av1_gops"):
        lines.append("as coded    " + ", ".join(
            f"{g['gops']} GOP{'s' if g['gops'] > 1 else ''} with backbone interval "
            f"{g['interval']} at {_SCALE_NAMES[g['scale']]} scale"
            + (f" (upsampled by {g['upsampler']})" if g["upsampler"] else "")
            + (", frames between backbones synthesised" if g["synthesised"] else "")
            + (f", block mode maps ({g['block_map_bytes']} bytes)" if g["block_maps"] else "")
            + (f", {g['extra_backbones']} extra backbone{'s' if g['extra_backbones'] > 1 else ''}"
               if g["extra_backbones"] else "")
            for g in d["av1_gops"]))
    q = d.get("av1_qindex")
    if q:
        lines.append(f"quantiser   AV1 base_q_idx {q['min']}-{q['max']} (mean {q['mean']:.1f}) "
                     f"over {q['frames']} backbone frames")
    lines += [
        "refine      " + (f"{d['refine']['model_id']} [{d['refine']['refiner_sha256'][:12]}], "
                          f"seed {d['refine']['seed']}" if d["refine"] else "none"),
        "",
        f"{'chunk type':<18}{'count':>7}{'bytes':>12}{'bpp':>12}",
    ]
    for k, v in d["chunks"].items():
        lines.append(f"{k:<18}{v['count']:>7}{v['bytes']:>12}{v['bpp']:>12.5f}")
    lines += ["", f"{'frame type':<18}{'frames':>7}{'bytes':>12}{'bpp':>12}"]
    for k, v in d["frame_type_stats"].items():
        lines.append(f"{k:<18}{v['frames']:>7}{v['bytes']:>12}{v['bpp']:>12.5f}")
    if per_frame:
        av1 = d["backbone"] == "av1"  # the AV1 quantiser column
        lines += ["", f"{'frame':>7} {'type':<5}{'chunk':<18}{'offset':>10}{'bytes':>9}{'rate':>8}"
                  + (f"{'qindex':>8}" if av1 else "")]
        for f in d["per_frame"]:
            qi = f["qindex"]
            lines.append(f"{f['frame']:>7} {f['type']:<5}{f['chunk']:<18}{f['offset']:>10}"
                         f"{f['bytes']:>9}{f['rate_code'] / 1000:>8.3f}"
                         + (f"{'-' if qi is None else qi:>8}" if av1 else ""))
    return "\n".join(lines)


def _abbrev(types: str, limit: int = 64) -> str:
    spaced = " ".join(types[:limit])
    return spaced + (f" ... ({len(types)} frames)" if len(types) > limit else "")
