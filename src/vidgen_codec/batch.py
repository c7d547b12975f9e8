"""Batch jobs (issue 16): encode or decode many files, one task each, resumable.

    inputs (files, folders, @lists) -> items (input, output in the output folder)
    manifest OUT/vgc-batch.json: per input its options, status, output size and SHA-256
    rerun: an item whose manifest entry is done with the same options and the same input
           (size, modification time), and whose output is still there with the recorded
           SHA-256, is skipped; the rest run again. An output that exists and is not one this
           batch wrote is never overwritten (that item fails)
    each item: api.encode / api.decode (atomic outputs), retried `retries` times on a failure
           that is not a vgc input error (those fail the same way every time), then reported

The manifest is rewritten (atomically) after every item, so a killed batch loses at most the
items in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, VgcError
from .parallel.pool import unordered

MANIFEST = "vgc-batch.json"
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".y4m", ".m4v", ".ts", ".mpg"}


@dataclass(frozen=True)
class Item:
    kind: str  # "encode" or "decode"
    input: str
    output: str
    options: tuple  # sorted (name, value) pairs passed to api.encode / api.decode


@dataclass
class Summary:
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)  # [(input, one-line reason)]

    def to_json(self) -> dict:
        return {"done": self.done, "skipped": self.skipped,
                "failed": [{"input": i, "error": e} for i, e in self.failed]}


def collect(inputs: list[str], kind: str) -> list[str]:
    """Input files from paths, folders (their videos, or .vgc files to decode) and @lists."""
    out = []
    for arg in inputs:
        if arg.startswith("@"):
            try:
                lines = Path(arg[1:]).read_text().splitlines()
            except OSError as e:
                raise InputError(f"cannot read the list {arg[1:]}: {e.strerror or e}") from None
            out += collect([ln.strip() for ln in lines if ln.strip()], kind)
        elif os.path.isdir(arg):
            want = {".vgc"} if kind == "decode" else VIDEO_EXTENSIONS
            out += sorted(str(p) for p in Path(arg).iterdir()
                          if p.is_file() and p.suffix.lower() in want)
        elif os.path.isfile(arg):
            out.append(arg)
        else:
            raise InputError(f"{arg}: no such file or folder")
    if not out:
        raise InputError("no input files")
    return list(dict.fromkeys(os.path.abspath(p) for p in out))


def items_for(files: list[str], kind: str, out_dir: str, suffix: str, options: dict) -> list[Item]:
    names: dict[str, str] = {}
    items = []
    for f in files:
        name = Path(f).stem + suffix
        if name in names:
            raise InputError(f"{f} and {names[name]} would both write {name}")
        names[name] = f
        items.append(Item(kind, f, str(Path(out_dir).resolve() / name),
                          tuple(sorted(options.items()))))
    return items


def run_batch(items: list[Item], out_dir: str, *, workers: int = 1, retries: int = 2,
              address: str | None = None, progress: bool = True) -> Summary:
    from tqdm import tqdm

    if address is not None:
        from .parallel.pool import check_address

        check_address(address)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    manifest = _load(out_dir)
    summary = Summary()
    todo = []
    for it in items:
        entry = manifest.get(it.input)
        if _finished(entry, it):
            summary.skipped.append(it.input)
        elif os.path.exists(it.output) and (entry is None or entry.get("output")
                                            != os.path.basename(it.output)):
            summary.failed.append((it.input, f"{it.output} exists and is not this batch's "
                                             "output: remove it, or pick another -o"))
        else:
            todo.append(it)
    attempts = {it.input: 0 for it in todo}
    with tqdm(total=len(items), initial=len(summary.skipped), desc=f"batch {items[0].kind}",
              unit="file", disable=not progress) as bar:
        while todo:
            again = []
            for it, result in unordered(run_item, [(it,) for it in todo], workers, address):
                attempts[it.input] += 1
                entry = {"output": os.path.basename(it.output), "options": dict(it.options),
                         "attempts": attempts[it.input], "input": _stamp(it.input), **result}
                manifest[it.input] = entry
                _save(out_dir, manifest)
                if result["status"] == "done":
                    summary.done.append(it.input)
                elif result.get("retry") and attempts[it.input] <= retries:
                    again.append(it)
                    continue
                else:
                    summary.failed.append((it.input, result["error"]))
                bar.update(1)
            todo = again
    return summary


def run_item(item: Item) -> tuple[Item, dict]:
    """One file, in a worker: {"status": "done", "bytes", "sha256", ...} or a failure with its
    one-line reason ("retry": whether trying again may help)."""
    from . import api

    opts = dict(item.options)
    t0 = time.monotonic()
    try:
        if item.kind == "encode":
            rep = api.encode(item.input, item.output, progress=False, **opts)
            extra = {"frames": rep.frames, "bpp": rep.bpp}
        else:
            extra = {"frames": api.decode(item.input, item.output, progress=False, **opts)}
    except VgcError as e:
        return item, {"status": "failed", "error": _line(e), "retry": False}
    except Exception as e:  # noqa: BLE001 - anything else is reported, and retried
        return item, {"status": "failed", "error": _line(e), "retry": True}
    return item, {"status": "done", "bytes": _size(item.output), "sha256": _sha256(item.output),
                  "seconds": round(time.monotonic() - t0, 2), **extra}


def _finished(entry: dict | None, it: Item) -> bool:
    """Done before with the same options, from the same input (size and time), and its
    output still the one written then."""
    return (entry is not None and entry.get("status") == "done"
            and entry.get("options") == json.loads(json.dumps(dict(it.options)))
            and entry.get("input") == _stamp(it.input)
            and os.path.exists(it.output) and entry.get("sha256") == _sha256(it.output))


def _stamp(path: str) -> list:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _size(path: str) -> int:
    p = Path(path)
    return sum(f.stat().st_size for f in p.iterdir()) if p.is_dir() else p.stat().st_size


def _sha256(path: str) -> str:
    """SHA-256 of a file, or of a folder's files (PNG output) in name order."""
    h = hashlib.sha256()
    p = Path(path)
    for f in sorted(p.iterdir()) if p.is_dir() else [p]:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _load(out_dir: str) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return data["files"] if data.get("version") == 1 else {}
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{path} is not a vgc batch manifest (remove it to start over)") \
            from None


def _save(out_dir: str, files: dict) -> None:
    path = Path(out_dir) / MANIFEST
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"version": 1, "files": files}, indent=1, sort_keys=True))
    os.replace(tmp, path)
