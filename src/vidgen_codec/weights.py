"""Loading and saving model weights: safetensors + config.json + identity.

A weights folder holds `model.safetensors` and `config.json`. The config carries the
constructor arguments of the network, its architecture name and the sha256 of the safetensors
file. `load_model` builds the network its config names (each model module registers its
architecture with `architecture(name)`), checks the file against the sha256 and loads it; it is
`read_weights` (config and tensors, checked) then `build_model`, which a caller may put off
until the network is needed (the stem codec's learned models, which av1 files never run).
Entropy-model CDF tables are stored in the safetensors (built once at export, never rebuilt at
load time), so every machine codes with identical tables.

What a .vgc file records of a folder is its `identity`: SHA-256 over the safetensors' SHA-256
and the canonical JSON of the architecture and config (bitstream_spec.md 7.1), so that editing
a config value (a refiner's timestep, a table size) is caught as "other weights", like editing
a tensor. Files of format 1.x recorded the safetensors' SHA-256 alone (`legacy`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

from .errors import WeightsError

# torch and safetensors are imported where they are used: `vgc info` reads configs alone

WEIGHTS_FORMAT = "vgc-weights-1"
# Buffers whose shape depends on the tables built at export; resized before loading.
TABLE_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table", "_cdf", "_length")


def without_tables(state: dict) -> dict:
    """A state dict without its CDF-table buffers (built at export, sized by the tables)."""
    return {k: v for k, v in state.items() if not k.endswith(TABLE_BUFFERS)}


def repo_weights_dir() -> Path:
    """The shipped weights: $VGC_WEIGHTS when set; else `weights/` of this checkout (an
    editable install, or running from the source tree); else the copy an installed package
    carries (`vidgen_codec/_weights`, setup.py)."""
    env = os.environ.get("VGC_WEIGHTS")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parents[1] / "weights"
    if (checkout / "stem" / "config.json").is_file():
        return checkout
    return here / "_weights"


def sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def save_weights(model: "torch.nn.Module", config: dict, architecture: str, out_dir: Path) -> bytes:
    """Write model.safetensors and config.json (with the sha256). Returns the hash."""
    return save_state(model.state_dict(), config, architecture, out_dir)


def save_state(state: dict, config: dict, architecture: str, out_dir: Path) -> bytes:
    """save_weights for a state dict (e.g. an adapter's part of a model)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    st = out_dir / "model.safetensors"
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(state, str(st), metadata={"architecture": architecture})
    digest = sha256_file(st)
    meta = {"format": WEIGHTS_FORMAT, "architecture": architecture, "config": config,
            "sha256": digest.hex()}
    (out_dir / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return digest


def read_config(weights_dir: Path, architecture: str) -> dict:
    cfg_path = Path(weights_dir) / "config.json"
    if not cfg_path.exists():
        raise WeightsError(f"no config.json in weights folder {weights_dir}")
    try:
        meta = json.loads(cfg_path.read_text())
    except (ValueError, OSError) as e:
        raise WeightsError(f"unreadable weights config {cfg_path}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{cfg_path} is not a vgc weights config")
    if meta.get("architecture") != architecture:
        raise WeightsError(
            f"{weights_dir} holds {meta.get('architecture')!r} weights, expected {architecture!r}"
        )
    return meta


def load_state(weights_dir: Path, meta: dict, *, arrays: bool = False) -> tuple[dict, bytes]:
    """The state dict, after checking the file against the hash in the config: torch tensors,
    or with `arrays` numpy arrays where numpy holds every dtype in the file (no torch: an av1
    file's encode reads the STEM folder's tables), else tensors."""
    st = Path(weights_dir) / "model.safetensors"
    if not st.exists():
        raise WeightsError(f"no model.safetensors in weights folder {weights_dir}")
    digest = sha256_file(st)
    if digest.hex() != meta.get("sha256"):
        raise WeightsError(f"{st} does not match the sha256 in its config.json (corrupt?)")
    try:
        if arrays:
            from safetensors.numpy import load_file as load_arrays

            try:
                return load_arrays(str(st)), digest
            except TypeError:  # a dtype numpy does not have (bfloat16): tensors
                pass
        from .torch_env import torch  # noqa: F401  (numerics: thread-invariant settings)
        from safetensors.torch import load_file

        return load_file(str(st)), digest
    except Exception as e:  # safetensors raises its own error types
        raise WeightsError(f"cannot read {st}: {e}") from None


def load_into(model: "torch.nn.Module", state: dict, where: str) -> None:
    """load_state_dict, first resizing CDF-table buffers to the stored shapes."""
    from .torch_env import torch

    for name, buf in model.named_buffers():
        owner, _, attr = name.rpartition(".")
        if attr.endswith(TABLE_BUFFERS) and name in state:
            setattr(model.get_submodule(owner), attr, torch.empty_like(state[name]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise WeightsError(f"weights in {where} do not fit the model: {first}") from None


def load_fitting(model: "torch.nn.Module", state: dict, where: str,
                 own: dict | None = None) -> int:
    """A warm start: load the tensors of `state` whose names and shapes are in `own` (default
    the model's state dict), leaving the others as initialised; returns how many."""
    own = model.state_dict() if own is None else own
    fit = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fit:
        raise WeightsError(f"{where}: no tensor fits this model")
    model.load_state_dict(fit, strict=False)
    return len(fit)


# -- one loader for every model folder ---------------------------------------------------------
_BUILDERS: dict[str, Callable[[dict], "torch.nn.Module"]] = {}


def architecture(name: str):
    """Register `build(config dict) -> module` as the builder of architecture `name`."""
    def register(build: Callable[[dict], "torch.nn.Module"]):
        _BUILDERS[name] = build
        return build
    return register


def identity(meta: dict) -> bytes:
    """What a stream records for a weights folder (module docstring, spec 7.1)."""
    canon = json.dumps({"architecture": meta["architecture"], "config": meta["config"]},
                       sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(bytes.fromhex(meta["sha256"]) + canon.encode("utf-8")).digest()


def folder_identity(folder, *, legacy: bool = False) -> bytes | None:
    """What a file records for a weights folder, from its config.json alone: its identity (or,
    `legacy`, the safetensors' SHA-256), combined as SHA-256(own || intra) with the folder its
    config names in `intra_dir` (stem, spec 15); None when a config cannot be read."""
    try:
        meta = json.loads((Path(folder) / "config.json").read_text())
        own = bytes.fromhex(meta["sha256"]) if legacy else identity(meta)
        if meta.get("architecture") not in ("StemModel", "S2vcModel"):
            return own
        # a stem folder names its intra weights (models/stem_model.py's default: ../intra)
        intra_dir = (Path(folder) / meta["config"].get("intra_dir", "../intra")).resolve()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if intra_dir == Path(folder).resolve():
        return None
    intra = folder_identity(intra_dir, legacy=legacy)
    return None if intra is None else pair_identity(own, intra)


def pair_identity(own: bytes, intra: bytes) -> bytes:
    """What a stem file records for a stem folder and the intra folder it names (spec 15)."""
    return hashlib.sha256(own + intra).digest()


def check_intra_pair(weights_dir: Path, intra_dir: Path, expected_hex: str,
                     found: bytes) -> None:
    """WeightsError unless the intra folder's (legacy) sha256 `found` is the one the weights
    folder was trained with (its config's `intra_sha256`; empty: not recorded). stem and s2vc
    both name an intra folder this way."""
    if expected_hex and found.hex() != expected_hex:
        raise WeightsError(f"{intra_dir} is not the intra model {weights_dir} was trained with "
                           f"(sha256 {expected_hex[:12]})")


@dataclass
class LoadedWeights:
    model: "torch.nn.Module"
    meta: dict  # config.json: architecture, config, sha256
    identity: bytes  # what format 2 files record
    legacy: bytes  # what format 1.x files recorded: the safetensors' SHA-256


@dataclass
class ReadWeights:
    """A weights folder read and checked, its network not built yet (`build_model`)."""

    folder: Path
    meta: dict
    state: dict  # the tensors (numpy arrays where numpy holds them), checked against the
    # config's sha256
    identity: bytes
    legacy: bytes


def read_weights(weights_dir, expected: str) -> ReadWeights:
    """The folder's config (its architecture must be `expected`) and tensors, the file checked
    against the sha256 in its config; no network is built."""
    wdir = Path(weights_dir)
    meta = read_config(wdir, expected)
    if not isinstance(meta.get("config"), dict) or not isinstance(meta.get("sha256"), str):
        raise WeightsError(f"{wdir / 'config.json'} has no config or sha256")
    state, digest = load_state(wdir, meta, arrays=True)
    return ReadWeights(wdir, meta, state, identity(meta), digest)


def build_model(read: ReadWeights) -> "torch.nn.Module":
    """The network of a folder read by `read_weights`, its tensors loaded."""
    name = read.meta["architecture"]
    if name not in _BUILDERS:
        raise WeightsError(f"no builder registered for architecture {name!r}")
    try:
        model = _BUILDERS[name](read.meta["config"])
    except (TypeError, ValueError, KeyError) as e:
        raise WeightsError(f"bad config in {read.folder / 'config.json'}: {e}") from None
    from .torch_env import torch

    state = {k: torch.from_numpy(v) if not isinstance(v, torch.Tensor) else v
             for k, v in read.state.items()}
    load_into(model, state, str(read.folder))
    return model


def load_model(weights_dir, expected: str) -> LoadedWeights:
    """Build the network of the folder's architecture (which must be `expected`), check its
    safetensors against config.json and load them."""
    r = read_weights(weights_dir, expected)
    return LoadedWeights(build_model(r), r.meta, r.identity, r.legacy)
