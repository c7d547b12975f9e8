"""`vgc eval`: encode clips with vgc codecs and classical baselines at matched sizes, decode,
measure, and write the results.

    clips --read--> reference frames (+ optical flow, once per clip)
      phase 1, per (clip, codec, bpp):   api.encode -> OUT/streams/CLIP/CODEC_bppX.vgc
                                         api.decode -> frames -> metrics -> points/...json
      phase 2, per (clip, baseline, .vgc file): CRF search to +-5 % of the file's bytes
                                         (one GOP, inter coding) -> frames -> metrics
      report: results.json, results.csv, bdrate.csv/.md, plots/*.png   (report.py, plots.py)

Every point is cached as JSON under OUT/points/ with the key it was computed from (clip file
size and time, frame range, codec weights, target, metric set, device); a rerun reuses the
points whose key matches, so an interrupted run resumes. `jobs` > 1 runs points in that many
worker processes (each with cpu_count // jobs torch threads).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import InputError, VgcError
from ..video_io import RAW_EXTENSIONS, RawSpec, probe, read_frames
from . import metric_set
from .baselines import BASELINES, EVAL_TOLERANCE, baseline_at_bytes, baseline_available
from .resources import Cost

CACHE_VERSION = 1


@dataclass
class EvalConfig:
    clips: list[str]
    bpp: list[float]
    out: str
    codecs: list[str] | None = None  # None: every registered codec
    baselines: list[str] = field(default_factory=lambda: ["x264", "x265", "svtav1"])
    metrics: list[str] = field(default_factory=lambda: list(metric_set.METRICS))
    start: int = 0
    frames: int | None = None
    raw: RawSpec | None = None
    anchor: str | None = None  # default: the first baseline, else the first codec
    device: str = "cpu"
    jobs: int = 1
    progress: bool = True
    tolerance: float = EVAL_TOLERANCE


@dataclass
class ClipInfo:
    id: str
    path: str
    width: int
    height: int
    fps: str  # exact, as "num/den"
    frames: int
    start: int
    raw: dict | None
    signature: dict  # file size and mtime: a changed file invalidates its cached points

    @property
    def fps_float(self) -> float:
        return float(Fraction(self.fps))

    def raw_spec(self) -> RawSpec | None:
        if self.raw is None:
            return None
        return RawSpec(self.raw["width"], self.raw["height"], Fraction(self.raw["fps"]),
                       self.raw["pix_fmt"])


def run_eval(cfg: EvalConfig, log=print) -> dict:
    """Run the whole evaluation; return the results dict (also written to OUT/results.json)."""
    from . import plots, report

    from ..api import resolve_device

    _check_config(cfg)
    cfg.device = resolve_device(cfg.device)
    for name in cfg.baselines:
        reason = baseline_available(name)
        if reason:
            raise InputError(f"--baselines: {reason}")
    taken: set[str] = set()
    clips = [_clip_info(p, cfg, taken) for p in cfg.clips]
    codecs, codecs_skipped = _resolve_codecs(cfg, log)
    curves = [c for c, _ in codecs] + list(cfg.baselines)
    anchor = cfg.anchor or (cfg.baselines[0] if cfg.baselines else curves[0])
    if anchor not in curves:
        raise InputError(f"--anchor {anchor!r} is not one of the evaluated codecs "
                         f"({', '.join(curves)})")
    unavailable = {k: r for k, r in metric_set.available(cfg.metrics).items() if r}
    for key, reason in unavailable.items():
        log(f"vgc eval: metric {key} skipped: {reason}")

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = dict(out=str(out), metrics=cfg.metrics, unavailable=unavailable, device=cfg.device,
               tolerance=cfg.tolerance)
    tasks = [dict(ctx, kind="vgc", clip=asdict(c), codec=name, weights=sha, bpp=b)
             for c in clips for name, sha in codecs for b in cfg.bpp]
    points = _run_tasks(tasks, cfg, "vgc points")
    tasks = _baseline_tasks(points, clips, cfg, ctx)
    points += _run_tasks(tasks, cfg, "baseline points")
    _attach_matches(points)

    results = {
        "vgc_version": __version__,
        "settings": {
            "codecs": [c for c, _ in codecs], "bpp": cfg.bpp, "baselines": cfg.baselines,
            "anchor": anchor, "size_tolerance": cfg.tolerance, "start": cfg.start,
            "frames": cfg.frames, "device": cfg.device, "jobs": cfg.jobs,
            "baseline_coding": "one GOP over the clip (inter coding), yuv420p, CRF searched",
        },
        "codecs_skipped": codecs_skipped,
        "metrics": {k: {"label": metric_set.METRICS[k].label,
                        "higher_is_better": metric_set.METRICS[k].higher_is_better,
                        "group": metric_set.METRICS[k].group,
                        "status": "skipped" if k in unavailable else "ok",
                        **({"reason": unavailable[k]} if k in unavailable else {})}
                    for k in cfg.metrics},
        "clips": [dict(asdict(c), ewarp_reference=_reference_ewarp(c, cfg.metrics))
                  for c in clips],
        "points": points,
    }
    results["bdrate"] = report.bd_tables(results, anchor)
    results["files"] = report.write_all(results, out)
    results["files"]["plots"] = plots.plot_all(results, out / "plots")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


# --- set-up -------------------------------------------------------------------------------

def _check_config(cfg: EvalConfig) -> None:
    if not cfg.clips:
        raise InputError("no clip given")
    if not cfg.bpp:
        raise InputError("--bpp needs at least one target")
    for b in cfg.bpp:
        if not 0 < b <= 24:
            raise InputError(f"--bpp {b:g} outside (0, 24]")
    if len(set(cfg.bpp)) != len(cfg.bpp):
        raise InputError("--bpp lists a target twice")
    unknown = [m for m in cfg.metrics if m not in metric_set.METRICS]
    if unknown:
        raise InputError(f"unknown metric {unknown[0]!r}; known: {', '.join(metric_set.METRICS)}")
    if cfg.jobs < 1:
        raise InputError("--jobs must be >= 1")
    if cfg.start < 0 or (cfg.frames is not None and cfg.frames <= 0):
        raise InputError("--start must be >= 0 and --frames > 0")


def _resolve_codecs(cfg: EvalConfig, log) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """[(name, weights sha256 hex)] of the codecs that can run, and {name: why not} of the rest."""
    from ..api import resolve_device
    from ..registry import get_codec, list_codecs

    names = cfg.codecs if cfg.codecs is not None else [s.name for s in list_codecs()]
    device = resolve_device(cfg.device)
    ok, skipped = [], {}
    for name in names:
        v = codec_variant(name)
        base, refine = v.codec, v.refine
        spec = get_codec(base)  # InputError for an unknown name
        if not refine and not spec.refined:
            raise InputError(f"{name}: {base} has no refiner to leave out")
        if not v.generate and not spec.generates:
            raise InputError(f"{name}: {base} has no generator to leave out")
        try:
            codec = spec.load(None, device=device)
            if v.backbone == "learned" and base == "stem":
                codec.model  # stem builds its learned networks on first use: check them now
            sha = codec.weights_sha256
            if refine and spec.refined:  # the refiner shapes the frames: part of the cache key
                from ..refine.loading import refiner_identity

                sha += refiner_identity(spec.default_refiner(v.backbone))[0]
        except VgcError as e:
            skipped[name] = f"weights not available: {e}"
            log(f"vgc eval: codec {name} skipped: {skipped[name]}")
            continue
        ok.append((name, sha.hex()))
    if not ok and not cfg.baselines:
        raise InputError("nothing to evaluate: no vgc codec has its weights, and no baseline")
    if not ok:
        raise InputError("no vgc codec has its weights: baselines are matched to vgc files")
    return ok, skipped


@dataclass(frozen=True)
class Variant:
    codec: str
    refine: bool = True  # decoded through the refiner (stem)
    generate: bool = True  # decoded through the generator (s2vc)
    preset: int | None = None
    backbone: str | None = None
    speed: str | None = None  # stem av1: --speed
    prior: bool = True  # stem av1: False is --no-prior (Lanczos only)
    backbone_scale: int | None = None  # stem av1: --backbone-scale ("half" 2, "quarter" 4)


SCALE_PARTS = {"half": 2, "quarter": 4}


def codec_variant(name: str) -> Variant:
    """"stem" -> stem as it ships; "stem/no-refine", "s2vc/no-generate": the same file decoded
    without the refiner or the generator, for comparisons at equal bytes; "stem/p4": encoded
    with `--preset 4` (the av1 backbone's); "stem/learned": the learned backbone; "stem/slow"
    (any `--speed` name): at that speed; "stem/no-prior": `--no-prior`; "stem/half",
    "stem/quarter": `--backbone-scale 2` or 4 (every GOP upsampled: the same structure with
    and without the priors). Parts combine: "stem/learned/no-refine", "stem/slow/no-prior"."""
    from ..codecs.stem.speed import SPEEDS

    base, *parts = name.split("/")
    v = Variant(base)
    for part in parts:
        if part in {sp.name for sp in SPEEDS}:
            v = replace(v, speed=part)
        elif part == "no-prior":
            v = replace(v, prior=False)
        elif part in SCALE_PARTS:
            v = replace(v, backbone_scale=SCALE_PARTS[part])
        elif part.startswith("p") and part[1:].isdigit():
            v = replace(v, preset=int(part[1:]))
        elif part in ("learned", "av1"):
            v = replace(v, backbone=part)
        elif part in ("no-refine", "no-generate"):
            v = replace(v, **{part[3:]: False})
        else:
            raise InputError(f"unknown codec variant {name!r} (CODEC, CODEC/no-refine, "
                             "CODEC/no-generate, CODEC/learned, CODEC/av1, CODEC/pN, "
                             "CODEC/SPEED, CODEC/no-prior, CODEC/half or CODEC/quarter, combined as "
                             "CODEC/learned/no-refine)")
    if v.backbone_scale and (v.codec != "stem" or v.backbone == "learned"):
        raise InputError(f"{name!r}: reduced backbone scales are stem's av1 backbone's")
    return v


def _clip_info(path: str, cfg: EvalConfig, taken: set[str]) -> ClipInfo:
    raw = cfg.raw if cfg.raw is not None and _raw_applies(path, cfg) else None
    info = probe(path, raw)
    n = sum(1 for _ in read_frames(path, start=cfg.start, count=cfg.frames, raw=raw))
    if n == 0:
        raise InputError(f"{path}: no frames in the requested range")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem) or "clip"
    cid, i = base, 2
    while cid in taken:
        cid, i = f"{base}_{i}", i + 1
    taken.add(cid)
    st = os.stat(path)
    raw_dict = None if raw is None else {"width": raw.width, "height": raw.height,
                                         "fps": str(Fraction(raw.fps)), "pix_fmt": raw.pix_fmt}
    return ClipInfo(cid, os.path.abspath(path), info.width, info.height, str(info.fps), n,
                    cfg.start, raw_dict, {"size": st.st_size, "mtime_ns": st.st_mtime_ns})


def _raw_applies(path: str, cfg: EvalConfig) -> bool:
    """--size applies to .yuv/.rgb clips; when no clip has such an extension, to all."""
    if any(os.path.splitext(p)[1].lower() in RAW_EXTENSIONS for p in cfg.clips):
        return os.path.splitext(path)[1].lower() in RAW_EXTENSIONS
    return True


# --- running points -----------------------------------------------------------------------

def _run_tasks(tasks: list[dict], cfg: EvalConfig, what: str) -> list[dict]:
    from tqdm import tqdm

    done, todo = [], []
    for t in tasks:
        cached = _cached(t)
        (done.append(cached) if cached else todo.append(t))
    bar = tqdm(total=len(tasks), initial=len(done), desc=what, unit="point",
               disable=not cfg.progress)
    try:
        if cfg.jobs == 1 or len(todo) <= 1:
            for t in todo:
                bar.set_postfix_str(_label(t))
                done.append(run_point(t))
                bar.update(1)
        else:
            import multiprocessing

            threads = max(1, (os.cpu_count() or 1) // cfg.jobs)
            with ProcessPoolExecutor(cfg.jobs, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                futures = {pool.submit(run_point, t): t for t in todo}
                for f in as_completed(futures):
                    done.append(f.result())
                    bar.set_postfix_str(_label(futures[f]))
                    bar.update(1)
    finally:
        bar.close()
    order = {_point_path(t): i for i, t in enumerate(tasks)}
    return sorted(done, key=lambda p: order[p["file"]])


def _init_worker(threads: int) -> None:
    from ..torch_env import torch

    torch.set_num_threads(threads)


def _label(t: dict) -> str:
    what = f"{t['bpp']:g} bpp" if t["kind"] == "vgc" else f"{t['target_bytes']} B"
    return f"{t['clip']['id']} {t.get('codec') or t.get('baseline')} {what}"


def _point_path(t: dict) -> str:
    name = (f"{t['codec'].replace('/', '-')}_bpp{t['bpp']:g}" if t["kind"] == "vgc"
            else f"{t['baseline']}_{t['target_bytes']}B")
    return str(Path(t["out"]) / "points" / t["clip"]["id"] / f"{name}.json")


def _key(t: dict) -> dict:
    """What a cached point must agree on to be reused."""
    c = t["clip"]
    k = {"version": CACHE_VERSION, "clip": c["path"], "signature": c["signature"],
         "start": c["start"], "frames": c["frames"], "raw": c["raw"], "kind": t["kind"],
         "metrics": t["metrics"], "unavailable": sorted(t["unavailable"]),
         "device": t["device"]}
    if t["kind"] == "vgc":
        k.update(codec=t["codec"], weights=t["weights"], bpp=t["bpp"])
    else:
        k.update(baseline=t["baseline"], target_bytes=t["target_bytes"],
                 tolerance=t["tolerance"])
    return k


def _cached(t: dict) -> dict | None:
    path = Path(_point_path(t))
    try:
        point = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if point.get("key") != json.loads(json.dumps(_key(t))):
        return None
    if t["kind"] == "vgc" and not Path(t["out"], point["stream"]).is_file():
        return None
    point["file"] = str(path)
    return point


_REFERENCES: dict[str, metric_set.Reference] = {}  # per process: frames + flow of each clip


def _reference(clip: dict) -> metric_set.Reference:
    key = json.dumps(clip, sort_keys=True)
    if key not in _REFERENCES:
        info = ClipInfo(**clip)
        frames = np.stack(list(read_frames(info.path, start=info.start, count=info.frames,
                                           raw=info.raw_spec())))
        _REFERENCES.clear()  # one clip at a time: clips can be large
        _REFERENCES[key] = metric_set.Reference(frames, info.fps_float)
    return _REFERENCES[key]


def _reference_ewarp(clip: ClipInfo, metrics: list[str]) -> float | None:
    if "ewarp" not in metrics or metric_set.METRICS["ewarp"].check():
        return None
    try:
        return _reference(asdict(clip)).ewarp()
    except ValueError:
        return None


def run_point(t: dict) -> dict:
    """Compute one point (a vgc encode or a baseline encode) and cache it; return it."""
    ref = _reference(t["clip"])
    n, h, w = ref.frames.shape[:3]
    point = {"clip": t["clip"]["id"], "kind": t["kind"]}
    if t["kind"] == "vgc":
        point.update(curve=t["codec"], codec=t["codec"], target_bpp=t["bpp"])
        decoded, cost = _vgc_encode_decode(t, point)
    else:
        point.update(curve=t["baseline"], codec=BASELINES[t["baseline"]],
                     target_bpp=t["target_bpp"], target_bytes=t["target_bytes"])
        decoded, cost = _baseline_encode_decode(t, ref, point)
    point["bpp"] = point["bytes"] * 8 / (w * h * n)
    point["kbps"] = point["bytes"] * 8 * ref.fps / n / 1000
    point.update(cost)
    values, skipped = metric_set.measure(ref, decoded, t["metrics"], t["device"],
                                         skip=t["unavailable"])
    point["metrics"], point["skipped"] = values, skipped
    point["key"] = _key(t)
    point["file"] = _point_path(t)
    path = Path(point["file"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(point, indent=2) + "\n")
    tmp.replace(path)
    return point


def _vgc_encode_decode(t: dict, point: dict) -> tuple[np.ndarray, dict]:
    import warnings

    from .. import api

    # torch's CPU build says this on every model load; it would interleave with the bars
    warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")

    clip = ClipInfo(**t["clip"])
    v = codec_variant(t["codec"])
    rel = Path("streams") / clip.id / f"{t['codec'].replace('/', '-')}_bpp{t['bpp']:g}.vgc"
    stream = Path(t["out"]) / rel
    stream.parent.mkdir(parents=True, exist_ok=True)
    with Cost(t["device"]) as enc:  # a /no-refine file is the same file, decoded unrefined
        rep = api.encode(clip.path, str(stream), codec=v.codec, bpp=t["bpp"],
                         start=clip.start, frames=clip.frames, raw=clip.raw_spec(),
                         device=t["device"], progress=False, preset=v.preset,
                         backbone=v.backbone, speed=v.speed, prior=v.prior,
                         backbone_scale=v.backbone_scale)
    with tempfile.TemporaryDirectory(prefix="vgc-eval-") as tmp:
        out = os.path.join(tmp, "decoded.mkv")  # FFV1: lossless
        with Cost(t["device"]) as dec:
            api.decode(str(stream), out, device=t["device"], refine=v.refine, progress=False,
                       generate=v.generate)
        decoded = np.stack(list(read_frames(out)))
    point.update(stream=str(rel), bytes=rep.bytes)
    n = clip.frames
    return decoded, {"enc_seconds": enc.seconds, "dec_seconds": dec.seconds,
                     "enc_fps": n / enc.seconds, "dec_fps": n / dec.seconds,
                     "enc_peak_mib": enc.peak_mib, "dec_peak_mib": dec.peak_mib}


def _baseline_encode_decode(t: dict, ref: metric_set.Reference,
                            point: dict) -> tuple[list[np.ndarray], dict]:
    fps = Fraction(t["clip"]["fps"])
    b = baseline_at_bytes(list(ref.frames), fps, t["baseline"], t["target_bytes"],
                          tolerance=t["tolerance"])
    n = len(ref.frames)
    point.update(bytes=b.bytes_used, crf=b.quality, size_error=b.size_error,
                 within_tolerance=b.within_tolerance)
    return b.frames, {"enc_seconds": b.encode_seconds, "dec_seconds": b.decode_seconds,
                      "enc_fps": n / b.encode_seconds, "dec_fps": n / b.decode_seconds,
                      "enc_peak_mib": b.encode_peak_mib, "dec_peak_mib": b.decode_peak_mib,
                      "search_encodes": b.search_encodes, "search_seconds": b.search_seconds}


def _baseline_tasks(points: list[dict], clips: list[ClipInfo], cfg: EvalConfig,
                    ctx: dict) -> list[dict]:
    """One encode per baseline and vgc file, matched to that file's size (files of equal size
    share it)."""
    by_clip = {c.id: c for c in clips}
    tasks, seen = [], set()
    for p in points:
        for name in cfg.baselines:
            if (p["clip"], name, p["bytes"]) in seen:
                continue
            seen.add((p["clip"], name, p["bytes"]))
            tasks.append(dict(ctx, kind="baseline", clip=asdict(by_clip[p["clip"]]),
                              baseline=name, target_bytes=p["bytes"], target_bpp=p["target_bpp"]))
    return tasks


def _attach_matches(points: list[dict]) -> None:
    """Each baseline point lists the vgc files (codec@bpp) it was size-matched to."""
    vgc = [p for p in points if p["kind"] == "vgc"]
    for p in points:
        if p["kind"] == "baseline":
            p["matched_to"] = [f"{v['codec']}@{v['target_bpp']:g}" for v in vgc
                               if v["clip"] == p["clip"] and v["bytes"] == p["target_bytes"]]
