"""Refiner weights: our tiny model (one vgc weights folder), or a Wan model in diffusers format
(`--model-dir`, with `vae/` and `transformer/` sub-folders) plus our adapter folder.

    weights/refiner/config.json     architecture "Refiner", RefinerConfig (vae and transformer
    weights/refiner/model.safetensors  configs inside): the whole network
    adapter/config.json              RefinerConfig with vae = transformer = None, lora_rank r
    adapter/model.safetensors        FTE, context tokens and LoRA tensors only

The identity a stream records (REFINE chunk, bitstream_spec.md section 7.5) is the folder's
identity (`weights.identity`: its safetensors and its config); for a --model-dir refiner it is
sha256(adapter identity || sha256(vae/config.json) || sha256(transformer/config.json) || the
sha256 of each weight file of vae/, then of transformer/, in name order), so two checkpoints of
one architecture are told apart. Format 1.x files recorded the safetensors' SHA-256 in place of
the identity (`legacy=True`). Hashing reads the base once per command (about 3 GB for
Wan2.1-1.3B: seconds, next to minutes of refinement).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsError
from ..weights import identity, load_model, load_state, read_config, repo_weights_dir, save_state

if TYPE_CHECKING:  # the network (torch) is imported where a refiner is built: an encode
    # records the refiner's identity from its config alone
    from ..models.refiner import Refiner, RefinerConfig

ARCHITECTURE = "Refiner"
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def default_refiner_dir() -> Path:
    """The shipped refiner used where none is named: the default codec's (stem's, for its
    default backbone; `registry.CodecSpec.default_refiner` gives it per backbone)."""
    from ..registry import get_codec

    return Path(get_codec("stem").default_refiner(None))


def refiner_identity(weights_dir=None, model_dir=None, *, legacy: bool = False
                     ) -> tuple[bytes, str]:
    """(identity, model_id) that a stream records for this refiner, from the configs alone
    (`legacy`: what format 1.x files recorded)."""
    def digest(meta: dict) -> bytes:
        return bytes.fromhex(meta["sha256"]) if legacy else identity(meta)

    if model_dir is not None:
        model_dir = Path(model_dir)
        if weights_dir is None:
            own, model_id = b"\0" * 32, adapter_config().model_id
        else:
            meta = read_config(Path(weights_dir), ARCHITECTURE)
            own, model_id = digest(meta), meta["config"]["model_id"]
        return hashlib.sha256(own + _base_digest(model_dir)).digest(), model_id
    wdir = Path(weights_dir) if weights_dir is not None else default_refiner_dir()
    meta = read_config(wdir, ARCHITECTURE)
    return digest(meta), meta["config"]["model_id"]


def shipped_refiner_for(sha: bytes, *, legacy: bool = False) -> Path | None:
    """The shipped refiner folder (weights/refiner, weights/refiner-*) whose identity is
    `sha`: a file decodes with the shipped refiner that made it, whichever backbone it has;
    None if no shipped folder matches."""
    root = repo_weights_dir()
    for d in [root / "refiner"] + sorted(root.glob("refiner-*")):
        if (d / "config.json").is_file() and refiner_identity(d, legacy=legacy)[0] == sha:
            return d
    return None


def load_refiner(weights_dir=None, model_dir=None, *, device: str = "cpu", legacy: bool = False
                 ) -> tuple[Refiner, bytes]:
    """(refiner in eval mode, identity). `model_dir` given: the base Wan model comes from
    it and `weights_dir` (optional) is an adapter; else `weights_dir` (default: the shipped
    one) holds the whole refiner."""
    from ..models.refiner import RefinerConfig

    if model_dir is not None:
        ref = _load_on_base(Path(model_dir), weights_dir)
    else:
        wdir = Path(weights_dir) if weights_dir is not None else default_refiner_dir()
        meta = read_config(wdir, ARCHITECTURE)
        cfg = RefinerConfig.from_dict(meta["config"])
        if cfg.vae is None:
            raise WeightsError(f"{wdir} is an adapter for a Wan model: pass --model-dir too")
        ref = load_model(wdir, ARCHITECTURE).model
    return ref.eval().to(device), refiner_identity(weights_dir, model_dir, legacy=legacy)[0]


def adapter_config(lora_rank: int = 16, window: int = 17) -> RefinerConfig:
    """An adapter's config: the base networks come from --model-dir; the pretrained Wan VAE
    decodes images; 17 frames = 5 latent frames at Wan's 4x temporal stride."""
    from ..models.refiner import RefinerConfig

    return RefinerConfig(vae=None, transformer=None, output="image", lora_rank=lora_rank,
                         window=window, skip=0, model_id=f"wan-lora{lora_rank}")


def build_on_base(model_dir: Path, cfg: RefinerConfig) -> Refiner:
    """Base VAE and transformer from a diffusers folder, with fresh FTE/context/LoRA."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from ..models.refiner import Refiner

    _check_layout(model_dir)
    try:
        vae = AutoencoderKLWan.from_pretrained(model_dir / "vae")
        tr = WanTransformer3DModel.from_pretrained(model_dir / "transformer")
    except (OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot load the Wan model in {model_dir}: {e}") from None
    if cfg.lora_rank > 0:
        from peft import LoraConfig

        tr.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_rank,
                                  init_lora_weights=True, target_modules=LORA_TARGETS))
    return Refiner(cfg, vae=vae, transformer=tr)


def adapter_state(ref: Refiner) -> dict:
    """The tensors an adapter folder stores: everything but the frozen base weights."""
    return {k: v for k, v in ref.state_dict().items()
            if k.startswith(("fte.", "level_embedder.", "context")) or "lora_" in k}


BASE_PARTS = ("vae", "transformer")
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _check_layout(model_dir: Path) -> None:
    for sub in BASE_PARTS:
        if not (model_dir / sub / "config.json").is_file():
            raise WeightsError(f"{model_dir} is not a diffusers Wan folder: no {sub}/config.json")


def _base_digest(model_dir: Path) -> bytes:
    """The base model's part of a --model-dir identity (module docstring)."""
    _check_layout(model_dir)
    files = [model_dir / sub / "config.json" for sub in BASE_PARTS]
    for sub in BASE_PARTS:
        files += sorted((p for p in (model_dir / sub).iterdir()
                         if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)),
                        key=lambda p: p.name.encode())
    digests = []
    for f in files:
        with open(f, "rb") as fh:
            digests.append(hashlib.file_digest(fh, "sha256").digest())
    return b"".join(digests)


def _load_on_base(model_dir: Path, adapter_dir) -> Refiner:
    from ..models.refiner import RefinerConfig

    if adapter_dir is None:
        cfg, state = adapter_config(), None
    else:
        meta = read_config(Path(adapter_dir), ARCHITECTURE)
        cfg = RefinerConfig.from_dict(meta["config"])
        if cfg.vae is not None:
            raise WeightsError(f"{adapter_dir} is a whole refiner, not an adapter: "
                               "drop --model-dir")
        state, _ = load_state(Path(adapter_dir), meta)
    ref = build_on_base(model_dir, cfg)
    if state is not None:
        missing = set(adapter_state(ref)) ^ set(state)
        if missing:
            raise WeightsError(f"adapter {adapter_dir} does not fit the model in {model_dir}: "
                               f"{sorted(missing)[0]}")
        ref.load_state_dict(state, strict=False)
    return ref


def save_refiner(ref: Refiner, out_dir) -> bytes:
    """Write a weights folder: the whole refiner, or (on a Wan base) the adapter only."""
    state = ref.state_dict() if ref.cfg.vae is not None else adapter_state(ref)
    return save_state(state, ref.cfg.to_dict(), ARCHITECTURE, Path(out_dir))
