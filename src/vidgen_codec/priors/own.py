"""vgc's own UpConv7 upsampler: the waifu2x photo network fine-tuned on SVT-AV1 round trips
(issue 33, part 3), shipped in `weights/upsampler-av1` (safetensors + config.json, as every
network vgc ships), so it needs no optional wheel.

    weights/upsampler-av1/model.safetensors   conv0..conv5.{weight,bias}  (out, in, 3, 3)
                                              deconv.{weight,bias}        (3, 256, 4, 4)
    weights/upsampler-av1/config.json         architecture "UpConv7", its slope, the
                                              deconvolution's stride and crop, the prior it
                                              started from and that prior's licence

The layout of the tensors is ncnn's (`ncnn_format`): a transposed convolution's weight is
(num_output, num_input, kh, kw) with out_full[s*i + k] += x[i] * w[k]. `chain_model` turns them
into the same parsed-graph form the wheel's files give, so `UpConv7`, its exact-integer form
(`exact.py`) and `upscale2x` run it unchanged. Its identity in a stream is the weights
folder's (`weights.identity`: SHA-256 over the safetensors' SHA-256 and the canonical config).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from .ncnn_format import NcnnLayer, NcnnModel
from .upconv7 import UpConv7

ARCHITECTURE = "UpConv7"
OWN = {"vgc-upconv7-av1": "upsampler-av1"}  # name -> folder under the shipped weights


def chain_model(tensors: dict, config: dict) -> NcnnModel:
    """The parsed-graph form of an UpConv7 chain given as arrays or CPU tensors: conv0..convN
    (3x3, stride 1, unpadded, LeakyReLU(slope) after each), then one transposed convolution."""
    slope = float(config["slope"])
    stride, crop = int(config["stride"]), int(config["crop"])
    layers = [NcnnLayer("Input", "input", (), ("b0",), {})]
    n = 0
    while f"conv{n}.weight" in tensors:
        w = np.asarray(tensors[f"conv{n}.weight"], np.float32)
        layers.append(NcnnLayer(
            "Convolution", f"conv{n}", (f"b{n}",), (f"b{n + 1}",),
            {0: w.shape[0], 1: w.shape[3], 11: w.shape[2], 5: 1, 9: 2, 10: (slope,)},
            {"weight": w, "bias": np.asarray(tensors[f"conv{n}.bias"], np.float32)}, "fp32"))
        n += 1
    if n == 0 or "deconv.weight" not in tensors:
        raise WeightsError("an UpConv7 needs conv0.. and deconv tensors")
    w = np.asarray(tensors["deconv.weight"], np.float32)
    layers.append(NcnnLayer(
        "Deconvolution", "deconv", (f"b{n}",), ("out",),
        {0: w.shape[0], 1: w.shape[3], 11: w.shape[2], 3: stride, 4: crop, 5: 1},
        {"weight": w, "bias": np.asarray(tensors["deconv.bias"], np.float32)}, "fp32"))
    return NcnnModel(layers, n + 2)


def chain_tensors(model: NcnnModel) -> dict:
    """The arrays of a parsed UpConv7 chain under `chain_model`'s names (its inverse)."""
    out, n = {}, 0
    for layer in model.layers[1:]:
        if layer.type == "Convolution":
            out[f"conv{n}.weight"] = layer.weights["weight"]
            out[f"conv{n}.bias"] = layer.weights["bias"]
            n += 1
        elif layer.type == "Deconvolution":
            out["deconv.weight"] = layer.weights["weight"]
            out["deconv.bias"] = layer.weights["bias"]
    return out


def own_dir(name: str) -> Path:
    from ..weights import repo_weights_dir

    return repo_weights_dir() / OWN[name]


def own_available(name: str) -> bool:
    return (own_dir(name) / "config.json").is_file()


@functools.lru_cache(maxsize=4)
def _loaded(folder: Path) -> tuple[NcnnModel, str]:
    from ..weights import read_weights

    read = read_weights(folder, ARCHITECTURE)
    try:
        model = chain_model(read.state, read.meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"bad UpConv7 weights in {folder}: {e}") from None
    return model, read.identity.hex()


def load_own(name: str, device="cpu") -> tuple[UpConv7, str]:
    """(module, identity hex) of one of vgc's own upsamplers, as `loading.load_prior`."""
    folder = own_dir(name)
    if not (folder / "config.json").is_file():
        raise WeightsError(f"no weights for {name} in {folder}")
    model, ident = _loaded(folder)
    return UpConv7(model).to(device), ident


def own_identity(name: str) -> str:
    return _loaded(own_dir(name))[1]
