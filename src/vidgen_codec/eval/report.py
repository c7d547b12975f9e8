"""Tables of a `vgc eval` run: BD-rates, the per-point CSV, and the text tables the CLI prints.

    bd_tables(results, anchor) -> {"anchor", "interpolation", "per_clip", "mean"}
    write_all(results, out)    -> results.csv, bdrate.csv, bdrate.md, table.txt
    points_table(results), bd_table(results)   text for the terminal

BD-rates are computed per clip (rate = bits per pixel of the whole clip) and averaged over the
clips, as the JVET common test conditions average them over sequences. A metric that was
skipped, a curve that is not monotonic or that does not overlap the anchor gets no number but
its reason.

A baseline has one point per vgc file it was size-matched to. In a pair that involves a vgc
codec, a baseline curve is made of the points matched to that codec's files; in a pair of two
baselines, of all its points (`basis`). Points of one curve with the same byte count are one
encode and count once (a codec that cannot go below some rate makes such twins).
"""

from __future__ import annotations

import csv
from pathlib import Path

from .bdrate import INTERPOLATION, bd_rate

COST_COLUMNS = ["enc_fps", "dec_fps", "enc_peak_mib", "dec_peak_mib"]


def curves(results: dict) -> list[str]:
    s = results["settings"]
    return list(s["codecs"]) + list(s["baselines"])


def bd_tables(results: dict, anchor: str) -> dict:
    """BD-rate (%) of every curve against `anchor`, per clip and per metric, and the mean."""
    metrics = results["metrics"]
    per_clip: dict = {}
    for clip in (c["id"] for c in results["clips"]):
        per_clip[clip] = {}
        for key, meta in metrics.items():
            row = per_clip[clip][key] = {}
            for name in curves(results):
                if name == anchor:
                    continue
                if meta["status"] != "ok":
                    row[name] = {"value": None, "reason": f"metric skipped: {meta['reason']}"}
                    continue
                b = basis(results, anchor, name)
                a, t = _curve(results, clip, anchor, key, b), _curve(results, clip, name, key, b)
                r = bd_rate(a[0], a[1], t[0], t[1], higher_is_better=meta["higher_is_better"],
                            names=(anchor, name))
                row[name] = {"value": r.value, "reason": r.reason}
    mean: dict = {}
    for key in metrics:
        mean[key] = {}
        for name in curves(results):
            if name == anchor:
                continue
            cells = [per_clip[c][key][name] for c in per_clip]
            values = [c["value"] for c in cells if c["value"] is not None]
            if values:
                mean[key][name] = {"value": sum(values) / len(values), "clips": len(values),
                                   "reason": None if len(values) == len(cells) else
                                   f"mean over {len(values)} of {len(cells)} clips"}
            else:
                reasons = sorted({c["reason"] for c in cells if c["reason"]})
                mean[key][name] = {"value": None, "clips": 0, "reason": "; ".join(reasons)}
    return {"anchor": anchor, "rate": "bits per pixel of the clip (whole file / payload)",
            "interpolation": INTERPOLATION, "per_clip": per_clip, "mean": mean}


def basis(results: dict, anchor: str, test: str) -> str | None:
    """The vgc codec whose files the baseline points of this pair were size-matched to
    (None for a pair of two baselines: all their points)."""
    codecs = results["settings"]["codecs"]
    return test if test in codecs else anchor if anchor in codecs else None


def curve_points(results: dict, clip: str, name: str, basis_codec: str | None) -> list[dict]:
    """Points of curve `name` on `clip` by rate, one per byte count; a baseline's only those
    matched to the files of `basis_codec` (all of them when it is None)."""
    pts = [p for p in results["points"] if p["clip"] == clip and p["curve"] == name
           and (p["kind"] == "vgc" or basis_codec is None
                or any(m.split("@")[0] == basis_codec for m in p.get("matched_to", [])))]
    unique: dict[int, dict] = {}
    for p in pts:
        unique.setdefault(p["bytes"], p)
    return sorted(unique.values(), key=lambda p: p["bpp"])


def _curve(results: dict, clip: str, name: str, key: str,
           basis_codec: str | None) -> tuple[list, list]:
    pts = [p for p in curve_points(results, clip, name, basis_codec)
           if p["metrics"].get(key) is not None]
    return [p["bpp"] for p in pts], [p["metrics"][key] for p in pts]


# --- files --------------------------------------------------------------------------------

def write_all(results: dict, out: Path) -> dict:
    """Write the CSV and table files next to results.json; return their names."""
    metrics = list(results["metrics"])
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip", "curve", "kind", "codec", "target_bpp", "bytes", "bpp", "kbps",
                    "size_error", "within_tolerance", "crf", *metrics, *COST_COLUMNS,
                    "skipped"])
        for p in results["points"]:
            w.writerow([p["clip"], p["curve"], p["kind"], p["codec"], p["target_bpp"],
                        p["bytes"], _num(p["bpp"]), _num(p["kbps"]), _num(p.get("size_error")),
                        p.get("within_tolerance", ""), _num(p.get("crf")),
                        *[_num(p["metrics"].get(m)) for m in metrics],
                        *[_num(p.get(c)) for c in COST_COLUMNS],
                        "; ".join(f"{k}: {v}" for k, v in p["skipped"].items())])
    bd = results["bdrate"]
    with open(out / "bdrate.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip", "metric", "curve", "anchor", "bd_rate_percent", "reason"])
        for clip, table in [*bd["per_clip"].items(), ("mean", bd["mean"])]:
            for key, row in table.items():
                for name, cell in row.items():
                    w.writerow([clip, key, name, bd["anchor"], _num(cell["value"]),
                                cell["reason"] or ""])
    (out / "bdrate.md").write_text(bd_markdown(results))
    (out / "table.txt").write_text(points_table(results) + "\n\n" + bd_table(results) + "\n")
    return {"json": "results.json", "csv": "results.csv", "bdrate_csv": "bdrate.csv",
            "bdrate_md": "bdrate.md", "table": "table.txt"}


def _num(x) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x)
    return f"{x:.6g}" if isinstance(x, float) else str(x)


# --- text tables --------------------------------------------------------------------------

def _fmt_metric(key: str, v) -> str:
    if v is None:
        return "skip"
    if key == "ewarp":
        return f"{v:.5f}"
    if key in ("ms_ssim", "lpips", "dists"):
        return f"{v:.4f}"
    return f"{v:.2f}"


def _short(key: str) -> str:
    return {"psnr": "PSNR", "psnr_y": "PSNR-Y", "ms_ssim": "MS-SSIM", "cvvdp": "CVVDP",
            "vmaf": "VMAF", "ewarp": "E_warp", "lpips": "LPIPS", "dists": "DISTS"}.get(key, key)


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(wd) if i else c.ljust(wd) for i, (c, wd) in
                       enumerate(zip(r, widths))) for r in [header, *rows]]
    return "\n".join(lines)


def points_table(results: dict) -> str:
    """One block per clip: every point with its size, metrics and cost."""
    metrics = list(results["metrics"])
    blocks = []
    for clip in results["clips"]:
        header = ["codec", "target", "sized to", "bytes", "bpp", "size",
                  *[_short(m) for m in metrics], "enc fps", "dec fps", "peak MiB"]
        rows = []
        pts = [p for p in results["points"] if p["clip"] == clip["id"]]
        order = {c: i for i, c in enumerate(curves(results))}
        pts.sort(key=lambda p: (order.get(p["curve"], 99), _sized_to(p, order), p["target_bpp"],
                                p["bytes"]))
        for p in pts:
            err = p.get("size_error")
            size = "" if err is None else f"{err * 100:+.1f}%" + ("" if p["within_tolerance"]
                                                                   else "!")
            peak = max(v for v in (p.get("enc_peak_mib"), p.get("dec_peak_mib")) if v is not None)
            sized = ",".join(p.get("matched_to", []))
            rows.append([p["curve"], f"{p['target_bpp']:g}", sized, str(p["bytes"]),
                         f"{p['bpp']:.4f}", size,
                         *[_fmt_metric(m, p["metrics"].get(m)) for m in metrics],
                         f"{p['enc_fps']:.2f}", f"{p['dec_fps']:.2f}", f"{peak:.0f}"])
        ew = clip.get("ewarp_reference")
        title = (f"clip {clip['id']}: {clip['width']}x{clip['height']}, {clip['frames']} frames "
                 f"from {clip['start']} @ {_fps(clip['fps']):.3f} fps"
                 + (f", reference E_warp {ew:.5f}" if ew is not None else ""))
        blocks.append(title + "\n" + _grid(header, rows))
    notes = ["sized to: the vgc file (codec@target) a baseline was matched to; size: its payload "
             f"vs that file (! = outside the ±{results['settings']['size_tolerance'] * 100:g} %"
             " tolerance)",
             "fps include model loading (vgc) and conversion to RGB; peak MiB: process RSS"]
    notes += [f"skip {_short(k)}: {m['reason']}" for k, m in results["metrics"].items()
              if m["status"] != "ok"]
    failed = {f"{_short(k)}: {r}" for p in results["points"] for k, r in p["skipped"].items()
              if results["metrics"][k]["status"] == "ok"}
    notes += [f"skip {r}" for r in sorted(failed)]
    skipped_codecs = [f"codec {c} not evaluated: {r}" for c, r in
                      results.get("codecs_skipped", {}).items()]
    return "\n\n".join(blocks) + "\n" + "\n".join(["", *skipped_codecs, *notes])


def _sized_to(p: dict, order: dict) -> int:
    m = p.get("matched_to")
    return order.get(m[0].split("@")[0], 99) if m else -1


def bd_table(results: dict) -> str:
    """BD-rate (%) against the anchor, mean over clips: rows codecs, columns metrics."""
    bd = results["bdrate"]
    metrics = list(results["metrics"])
    header = ["BD-rate vs " + bd["anchor"], *[_short(m) for m in metrics]]
    rows, notes = [], {}
    for name in curves(results):
        if name == bd["anchor"]:
            continue
        row = [name]
        for m in metrics:
            cell = bd["mean"][m][name]
            if cell["value"] is None:
                mark = notes.setdefault(cell["reason"], f"[{len(notes) + 1}]")
                row.append("n/a" + mark)
            else:
                row.append(f"{cell['value']:+.1f}%")
        rows.append(row)
    text = _grid(header, rows)
    text += (f"\n(mean over {len(results['clips'])} clip(s); negative = fewer bits than "
             f"{bd['anchor']} at equal quality; PCHIP of log-rate over quality, as the "
             f"JCT-VC/JVET CTC sheets; baselines at the sizes of the vgc codec in the pair, "
             f"all their points in a pair of baselines)")
    for reason, mark in notes.items():
        text += f"\n{mark} {reason}"
    return text


def bd_markdown(results: dict) -> str:
    bd = results["bdrate"]
    metrics = list(results["metrics"])
    lines = [f"# BD-rate against {bd['anchor']}", "",
             f"Rate: {bd['rate']}. Interpolation: {bd['interpolation']}. Negative: fewer bits "
             f"than {bd['anchor']} at equal quality.", ""]
    for clip, table in [("mean over clips", bd["mean"]), *bd["per_clip"].items()]:
        lines += [f"## {clip}", "", "| codec | " + " | ".join(_short(m) for m in metrics) + " |",
                  "|---" * (len(metrics) + 1) + "|"]
        for name in curves(results):
            if name == bd["anchor"]:
                continue
            cells = [table[m][name] for m in metrics]
            lines.append(f"| {name} | " + " | ".join(
                f"{c['value']:+.2f} %" if c["value"] is not None else f"n/a ({c['reason']})"
                for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _fps(text: str) -> float:
    from fractions import Fraction

    return float(Fraction(text))
