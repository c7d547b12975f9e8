"""AV1 backbone pictures, shared by stem's av1 GOPs and s2vc's AV1 I-frames: the scale
arithmetic, the 2x2-mean downscale, the upsampling back (integer (3/4, 1/4) taps or Lanczos-3),
and a GOP's dav1d decoder (bitstream_spec.md, section 15, stem: "Backbone coders")."""

from __future__ import annotations

import numpy as np

from ...errors import FormatError
from ...frames import to_tensor
from ...pictures.av1 import Av1Decoder
from ...pictures.lanczos import upsample2x_rgb
from ...pictures.yuv420 import upsample2x


def even(n: int) -> int:
    return n + n % 2


def coded_size(height: int, width: int, scale: int) -> tuple[int, int]:
    """(h, w) of a backbone picture at `scale` for a frame of height x width."""
    h, w = even(height), even(width)
    return even(-(-h // scale)), even(-(-w // scale))


def downscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    """An even-sided HxWx3 uint8 picture at `scale` (2: 2x2 means, edges replicated; 4: that
    twice)."""
    if scale == 1:
        return rgb
    if scale == 4:
        return downscale(downscale(rgb, 2), 2)
    hh, wh = coded_size(*rgb.shape[:2], 2)
    p = np.pad(rgb, ((0, 2 * hh - rgb.shape[0]), (0, 2 * wh - rgb.shape[1]), (0, 0)),
               mode="edge").astype(np.int32)
    s = p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
    return ((s + 2) >> 2).astype(np.uint8)


def to_picture(pic: np.ndarray, scale: int, height: int, width: int, hp: int,
               wp: int, lanczos: bool = False, prior=None) -> np.ndarray:
    """A decoded backbone picture -> the backbone b as hp x wp x 3 uint8: upsampled 2x per
    side, once when scale is 2, twice when 4 (integer (3/4, 1/4) taps, `pictures.yuv420`,
    Lanczos-3 taps, `pictures.lanczos`, or a pretrained `prior` module, `priors.upscale2x`, as
    the GOP header says), cropped to the frame and edge-replicated to the padded size, as the
    encoder pads its input."""
    for _ in range(scale.bit_length() - 1):
        if prior is not None:
            from ...priors import upscale2x

            pic = upscale2x(prior, pic)
        elif lanczos:
            pic = upsample2x_rgb(pic)
        else:
            pic = np.stack([upsample2x(pic[..., c].astype(np.int32)) for c in range(3)], -1)
            pic = pic.astype(np.uint8)
    pic = pic[:height, :width]
    return np.pad(pic, ((0, hp - pic.shape[0]), (0, wp - pic.shape[1]), (0, 0)), mode="edge")


class Av1BackboneDecoder:
    """One GOP's AV1 sequence: a new dav1d context at each I-frame."""

    def __init__(self, scale: int, height: int, width: int, lanczos: bool = False,
                 prior=None, tensors: bool = True):
        self.scale, self.height, self.width, self.lanczos = scale, height, width, lanczos
        self.prior = prior  # a 2x prior module (`priors`), or None
        self.tensors = tensors  # what `frame` gives: float frames, or uint8 pictures
        self.dec = Av1Decoder()

    def coded(self, unit: bytes, *, chunk=None) -> np.ndarray:
        """The unit's picture as coded (at the GOP's scale), RGB uint8."""
        pic = self.dec.decode(unit)
        want = coded_size(self.height, self.width, self.scale)
        if pic is None or pic.shape[:2] != want:
            raise FormatError("AV1 backbone does not decode to a "
                              f"{want[1]}x{want[0]} picture", chunk=chunk)
        return pic

    def picture(self, unit: bytes, hp: int, wp: int, *, chunk=None) -> np.ndarray:
        """The backbone b as hp x wp x 3 uint8 (`to_picture`)."""
        return to_picture(self.coded(unit, chunk=chunk), self.scale, self.height, self.width,
                          hp, wp, self.lanczos, self.prior)

    def decode(self, unit: bytes, hp: int, wp: int, *, chunk=None):
        """The backbone as a (1,3,hp,wp) float frame (torch)."""
        return to_tensor(self.picture(unit, hp, wp, chunk=chunk))

    def frame(self, unit: bytes, hp: int, wp: int, *, chunk=None):
        """`decode` where `tensors` is set, else `picture`."""
        if self.tensors:
            return self.decode(unit, hp, wp, chunk=chunk)
        return self.picture(unit, hp, wp, chunk=chunk)
