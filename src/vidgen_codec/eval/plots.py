"""Rate-quality plots of a `vgc eval` run (matplotlib, PNG, no display needed).

    plots/<metric>_<clip>.png   one line per codec: bits per pixel vs the metric, one clip
    plots/<metric>_mean.png     the same averaged over clips: the points made for the same vgc
                                file (codec@target) averaged (bpp and metric) over the clips

A metric with no value at all (skipped) gets no plot. A baseline's line joins all its points
(one per vgc file it was matched to). Points outside the size tolerance are drawn hollow.
"""

from __future__ import annotations

from pathlib import Path

from .report import curve_points, curves


def plot_all(results: dict, out: Path) -> list[str]:
    """Write every plot; return their paths relative to the results folder."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for key, meta in results["metrics"].items():
        if meta["status"] != "ok":
            continue
        series = {c["id"]: _clip_series(results, c["id"], key) for c in results["clips"]}
        for clip, lines in series.items():
            if _draw(lines, meta, key, f"{clip}", out / f"{key}_{clip}.png", results):
                written.append(f"plots/{key}_{clip}.png")
        if _draw(_mean_series(results, series), meta, key,
                 f"mean over {len(series)} clip(s)", out / f"{key}_mean.png", results):
            written.append(f"plots/{key}_mean.png")
    return written


def _clip_series(results: dict, clip: str, key: str) -> dict[str, list[tuple]]:
    """{curve: [(label, bpp, value, hollow)]} sorted by bpp, values present only. A point's
    label is its vgc file (codec@target), for a baseline the file it was matched to."""
    lines: dict[str, list[tuple]] = {}
    for name in curves(results):
        pts = [(_label(p), p["bpp"], p["metrics"][key],
                p["kind"] == "baseline" and not p.get("within_tolerance", True))
               for p in curve_points(results, clip, name, None)
               if p["metrics"].get(key) is not None]
        if pts:
            lines[name] = pts
    return lines


def _label(p: dict) -> str:
    if p["kind"] == "vgc":
        return f"{p['codec']}@{p['target_bpp']:g}"
    return (p.get("matched_to") or [f"{p['target_bytes']}B"])[0]


def _mean_series(results: dict, series: dict) -> dict[str, list[tuple]]:
    """Average each curve's points with the same label (bpp and value) over the clips that
    have that point."""
    mean: dict[str, list[tuple]] = {}
    for name in curves(results):
        per_label: dict[str, list[tuple]] = {}
        for lines in series.values():
            for t in lines.get(name, []):
                per_label.setdefault(t[0], []).append(t)
        pts = [(label, sum(v[1] for v in vals) / len(vals), sum(v[2] for v in vals) / len(vals),
                any(v[3] for v in vals)) for label, vals in per_label.items()]
        if pts:
            mean[name] = sorted(pts, key=lambda t: t[1])
    return mean


def _draw(lines: dict, meta: dict, key: str, title: str, path: Path, results: dict) -> bool:
    import matplotlib.pyplot as plt

    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    vgc = set(results["settings"]["codecs"])
    for i, name in enumerate(c for c in curves(results) if c in lines):
        pts = lines[name]
        x, y = [p[1] for p in pts], [p[2] for p in pts]
        style = "-" if name in vgc else "--"
        (line,) = ax.plot(x, y, style, marker="o", label=name, color=f"C{i}")
        hollow = [(p[1], p[2]) for p in pts if p[3]]
        if hollow:
            ax.plot(*zip(*hollow), "o", markerfacecolor="white", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    arrow = "higher is better" if meta["higher_is_better"] else "lower is better"
    ax.set_ylabel(f"{meta['label']} ({arrow})")
    ax.set_title(f"{meta['label']}: {title}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
