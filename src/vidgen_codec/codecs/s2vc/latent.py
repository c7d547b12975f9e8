"""A P-frame's latent to streams [z, y] and back (bitstream_spec.md 15, "s2vc").

    y' = y * gain(q);  z = h_a(y');  z symbols = round(z - median_c)       -> stream 0
    params = h_s(z_hat);  (scale, mean) = prior(params ++ y_prev_hat)     integer networks
    y symbols = round(y' - mean), table = index(scale)                    -> stream 1
    y_hat = symbols + mean   (the next P-frame's y_prev_hat; zeros after an I-frame)

Both networks that choose tables are evaluated as integer networks (`integer_hyper`), and
their inputs are multiples of 2^-16, so the encoder and every decoder choose the same tables.
"""

from __future__ import annotations

from ...torch_env import torch

from ...entropy import CdfTable
from ...entropy.backend import decode_tensor, encode_tensor
from ...models.integer_hyper import IntegerHyperSynthesis
from ...models.s2vc_coder import ConditionalCoder
from ..intra import table_indexes


class LatentCoder:
    def __init__(self, coder: ConditionalCoder, backend):
        self.coder, self.backend = coder, backend
        self.h_s = IntegerHyperSynthesis(coder.h_s)
        self.prior = IntegerHyperSynthesis(coder.prior)
        gc = coder.gaussian_conditional
        self.scale_table = gc.scale_table.detach().cpu().double()
        self.scale_bound = float(gc.scale_bound)
        self.medians = coder.entropy_bottleneck.quantiles[:, 0, 1].detach().cpu().double()
        self.y_table = CdfTable.from_entropy_model(gc)
        self.z_table = CdfTable.from_entropy_model(coder.entropy_bottleneck)

    def params(self, z_hat: torch.Tensor, y_prev: torch.Tensor):
        """(scale, mean) of y, float64 multiples of 2^-16."""
        hyper = torch.cat(self.h_s(z_hat), 1)
        return self.prior(torch.cat([hyper, y_prev.to(hyper.device)], 1))

    def code(self, y: torch.Tensor, q: float, y_prev: torch.Tensor
             ) -> tuple[list[bytes], torch.Tensor]:
        """(streams [z, y], y_hat float64) of the latent y (before the gain) at rate q."""
        gain, _ = self.coder.gains(torch.tensor([q], device=y.device))
        yg = y * gain
        z = self.coder.h_a(yg).double()
        med = self.medians.to(z.device).view(1, -1, 1, 1)
        z_sym = torch.round(z - med)
        scales, means = self.params(z_sym + med, y_prev)
        y_sym = torch.round(yg.double() - means)
        return [encode_tensor(self.backend, z_sym.int(), self._z_indexes(z.shape, z.device),
                              self.z_table),
                encode_tensor(self.backend, y_sym.int(), self._y_indexes(scales), self.y_table)
                ], y_sym + means

    def decode(self, streams: list[bytes], y_prev: torch.Tensor, hp: int, wp: int
               ) -> torch.Tensor:
        """y_hat (float64, (1, M, hp/16, wp/16)) from streams [z, y]."""
        zshape = (1, self.coder.N, hp // 64, wp // 64)
        dev = y_prev.device
        z_sym = decode_tensor(self.backend, streams[0], self._z_indexes(zshape, dev), self.z_table)
        z_hat = z_sym.double().view(zshape) + self.medians.to(dev).view(1, -1, 1, 1)
        scales, means = self.params(z_hat, y_prev)
        y_sym = decode_tensor(self.backend, streams[1], self._y_indexes(scales), self.y_table)
        return y_sym.double().view(means.shape) + means

    def _z_indexes(self, shape, device=None) -> torch.Tensor:
        idx = torch.arange(shape[1], device=device).view(1, -1, 1, 1)
        return idx.expand(shape).int()

    def _y_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        return table_indexes(scales, self.scale_table, self.scale_bound)
