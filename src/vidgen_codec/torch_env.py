"""torch, as every vgc module imports it: `from ..torch_env import torch`.

Importing torch through here tells `numerics` that it has arrived, so that a thread-invariant
region entered before torch was loaded (an av1 file's encode or decode, which needs no torch)
applies its settings before any tensor is computed. tests/test_hardening.py checks that every
module that imports torch also imports this one.
"""

import torch

from .numerics import torch_arrived

torch_arrived(torch)
