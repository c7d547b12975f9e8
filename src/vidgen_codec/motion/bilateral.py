"""Frames rebuilt at the decoder from the two backbones around them, with motion the decoder
finds itself (no bits): bilateral block matching, then motion-compensated interpolation.

    b0, b1 (HxWx3 uint8) --luma, pyramid--> bilateral block search, coarse to fine
        --3x3 median--> half-motion field D (2, hb, wb), integer pixels, 8x8 blocks
    frame t, m = t - t0 of n = t1 - t0:
        D --nearest, 8x8 box sum--> S (1/64 px)  --> offsets o0 = -m S / 2n, o1 = (n-m) S / 2n
        (1/16 px)  --> bilinear samples w0 of b0, w1 of b1 --> ((n-m) w0 + m w1) / n

Bilateral matching (the frame-rate up-conversion form of block matching: Choi et al., "Motion-
compensated frame interpolation using bilateral motion estimation", IEEE TCE 2007; VVC's
decoder-side motion vector refinement matches the same way) looks for the vector d of each
block of the frame half-way between b0 and b1 such that b0 at p - d and b1 at p + d agree, so
every output pixel has a vector (no holes, no overlaps). The field found at the midpoint serves
every frame between the two backbones, scaled by its distance (linear motion).

Everything is integers in a fixed order, so another decoder reproduces it exactly
(bitstream_spec.md, stem, "Synthesised frames"). The kernels are compiled by Numba.
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

BLOCK = 8  # block side at every pyramid level
MAX_LEVELS = 4
MIN_SIDE = 32  # a level is added while the smaller side, halved, stays at least this
COARSE_RANGE = 4  # search range at the coarsest level (+-, in that level's pixels)
LAMBDA = 8  # cost of one unit of |dx| + |dy| (that level's pixels), against a block's SAD


def levels_for(h: int, w: int) -> int:
    k = 1
    while k < MAX_LEVELS and (min(h, w) >> k) >= MIN_SIDE:
        k += 1
    return k


def luma(rgb: np.ndarray) -> np.ndarray:
    """(77 R + 150 G + 29 B + 128) >> 8, as int32."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return (77 * r + 150 * g + 29 * b + 128) >> 8


def _pyramid(y: np.ndarray, levels: int) -> list[np.ndarray]:
    unit = BLOCK << (levels - 1)
    h, w = y.shape
    hq, wq = -(-h // unit) * unit, -(-w // unit) * unit
    out = [np.pad(y, ((0, hq - h), (0, wq - w)), mode="edge")]
    for _ in range(levels - 1):
        p = out[-1]
        out.append((p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2] + 2) >> 2)
    return out


@njit
def _search(a, b, centres, pred, radius, lam, out):
    """Per 8x8 block (i, j): the d minimising SAD over the 16x16 window around the block (rows
    8i-4 .. 8i+11, columns likewise) of a(p - d) against b(p + d), plus lam |d - pred[i, j]|_1,
    among c + o for each centre c of centres[:, i, j] in order and each |o| <= radius per
    component (o = 0 first, then oy outer, ox inner, each from -radius up); the first minimum
    wins. Coordinates clamp to the picture.

    A d already tried for the block is not costed again: its cost would be the same, so it
    could not be a first minimum (only the time changes)."""
    h, w = a.shape
    hb, wb = out.shape[1], out.shape[2]
    side = 2 * radius + 1
    tried = np.empty((centres.shape[0] * side * side, 2), np.int64)
    for i in range(hb):
        for j in range(wb):
            px = pred[0, i, j]
            py = pred[1, i, j]
            best = -1
            bx = px
            by = py
            ntried = 0
            for ci in range(centres.shape[0]):
                cx = centres[ci, 0, i, j]
                cy = centres[ci, 1, i, j]
                for k in range(-1, side * side):
                    if k < 0:
                        dx, dy = cx, cy
                    else:
                        oy = k // side - radius
                        ox = k % side - radius
                        if ox == 0 and oy == 0:
                            continue
                        dx, dy = cx + ox, cy + oy
                    seen = False
                    for q in range(ntried):
                        if tried[q, 0] == dx and tried[q, 1] == dy:
                            seen = True
                            break
                    if seen:
                        continue
                    tried[ntried, 0] = dx
                    tried[ntried, 1] = dy
                    ntried += 1
                    cost = lam * (abs(dx - px) + abs(dy - py))
                    for yy in range(i * 8 - 4, i * 8 + 12):
                        ya = min(max(yy - dy, 0), h - 1)
                        yb = min(max(yy + dy, 0), h - 1)
                        for xx in range(j * 8 - 4, j * 8 + 12):
                            xa = min(max(xx - dx, 0), w - 1)
                            xb = min(max(xx + dx, 0), w - 1)
                            cost += abs(a[ya, xa] - b[yb, xb])
                        if best >= 0 and cost >= best:
                            break
                    if best < 0 or cost < best:
                        best = cost
                        bx = dx
                        by = dy
            out[0, i, j] = bx
            out[1, i, j] = by


def _centres(pred: np.ndarray) -> np.ndarray:
    """(5, 2, hb, wb): each block's own prediction, then those of the blocks above, below,
    left and right of it (edges replicated)."""
    p = np.pad(pred, ((0, 0), (1, 1), (1, 1)), mode="edge")
    hb, wb = pred.shape[1:]
    return np.ascontiguousarray(np.stack([pred, p[:, :hb, 1:-1], p[:, 2:, 1:-1],
                                          p[:, 1:-1, :wb], p[:, 1:-1, 2:]]), np.int32)


def _median3(v: np.ndarray) -> np.ndarray:
    """3x3 median of an int plane, edges replicated."""
    p = np.pad(v, 1, mode="edge")
    h, w = v.shape
    stack = np.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
    return np.sort(stack, axis=0)[4]


def estimate(b0: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Half-motion field D (2, hb, wb) int32 (dx plane, dy plane; level-0 pixels) of 8x8 blocks
    of the padded picture: b0 at p - D and b1 at p + D match."""
    h, w = b0.shape[:2]
    k = levels_for(h, w)
    pa, pb = _pyramid(luma(b0), k), _pyramid(luma(b1), k)
    field = None
    for lev in range(k - 1, -1, -1):
        a, b = pa[lev], pb[lev]
        hb, wb = a.shape[0] // BLOCK, a.shape[1] // BLOCK
        if field is None:
            pred = np.zeros((2, hb, wb), np.int32)
            radius = COARSE_RANGE
        else:
            pred = 2 * field.repeat(2, axis=1).repeat(2, axis=2)[:, :hb, :wb]
            radius = 1
        pred = np.ascontiguousarray(pred, np.int32)
        out = np.empty((2, hb, wb), np.int32)
        _search(a, b, _centres(pred), pred, radius, LAMBDA, out)
        field = out
    return np.stack([_median3(field[0]), _median3(field[1])]).astype(np.int32)


def smooth_sum(field: np.ndarray, h: int, w: int) -> np.ndarray:
    """S (2, h, w) int64: each pixel's 8x8 box sum (rows y-4..y+3, columns x-4..x+3, clamped
    to the field's pixel grid) of the block vectors spread to pixels (pixel (y, x) takes block
    (y >> 3, x >> 3)). S / 64 is a bilinear-like interpolation of D between block centres."""
    out = np.empty((2, h, w), np.int64)
    _box8(np.ascontiguousarray(field, np.int64), h, w, out)
    return out


@njit
def _box8(field, h, w, out):
    """`smooth_sum`'s box sums, as running sums along the rows and then down the columns
    (integers, so any order of the additions gives the same S)."""
    hq, wq = field.shape[1] * BLOCK, field.shape[2] * BLOCK
    rows = np.empty((h + 8, w), np.int64)  # rows[r, x]: sum over columns x-4..x+3, row r-4
    for c in range(2):
        for r in range(h + 8):
            by = min(max(r - 4, 0), hq - 1) >> 3
            acc = np.int64(0)
            for k in range(-4, 4):
                acc += field[c, by, min(max(k, 0), wq - 1) >> 3]
            rows[r, 0] = acc
            for x in range(1, w):
                acc += (field[c, by, min(max(x + 3, 0), wq - 1) >> 3]
                        - field[c, by, min(max(x - 5, 0), wq - 1) >> 3])
                rows[r, x] = acc
        for x in range(w):
            acc = np.int64(0)
            for r in range(8):
                acc += rows[r, x]
            out[c, 0, x] = acc
        for y in range(1, h):
            for x in range(w):
                out[c, y, x] = out[c, y - 1, x] + rows[y + 7, x] - rows[y - 1, x]


def offsets(s: np.ndarray, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """1/16-pixel offsets into b0 and b1 for frame m of n: floor((-m S + n) / 2n) and
    floor(((n - m) S + n) / 2n) (round to nearest, ties up). Every rebuild goes through here,
    so here is where 0 < m < n is checked: the kernels' exact reciprocal (`exact_recip`) holds
    for numerators 0 .. 256 n, which uint8 frames and such m give."""
    if not 0 < m < n:
        raise ValueError(f"frame {m} of an interval of {n}: need 0 < m < n")
    return (-m * s + n) // (2 * n), ((n - m) * s + n) // (2 * n)


@njit
def _interp(b0, b1, o0, o1, m, n, out):
    """`interpolate`'s samples; the final // n is done as a multiplication by `exact_recip(n)`
    and a shift (the same integers, in less time)."""
    h, w = out.shape[0], out.shape[1]
    half = n >> 1
    inv = exact_recip(n)
    for y in range(h):
        for x in range(w):
            t0 = _taps(y * 16 + o0[1, y, x], x * 16 + o0[0, y, x], h, w)
            t1 = _taps(y * 16 + o1[1, y, x], x * 16 + o1[0, y, x], h, w)
            for c in range(3):
                v = (n - m) * _at(b0, t0, c) + m * _at(b1, t1, c) + half
                out[y, x, c] = (v * inv) >> 32 if inv else v // n


@njit
def exact_recip(n):
    """2^32 // n + 1, with which (v * it) >> 32 == v // n for 0 <= v <= 256 n when n < 4096
    (v = q n + r: v * it / 2^32 = v / n + v e / (n 2^32) with 0 < e <= n, and v n < 2^32);
    0 for larger n (the caller divides)."""
    return (np.int64(1) << 32) // n + 1 if n < 4096 else np.int64(0)


@njit
def _taps(y16, x16, h, w):
    """The bilinear sample at (y16 / 16, x16 / 16), coordinates clamped to the picture: its
    rows y0, y1, columns x0, x1 and sixteenths fy, fx (`_at` reads a channel's value)."""
    yi = y16 >> 4
    xi = x16 >> 4
    return (min(max(yi, 0), h - 1), min(max(yi + 1, 0), h - 1), min(max(xi, 0), w - 1),
            min(max(xi + 1, 0), w - 1), y16 & 15, x16 & 15)


@njit
def _at(img, taps, c):
    """Channel c of the bilinear sample `taps` (`_taps`) of img, rounded: (16 - fy) x top +
    fy x bottom, each row (16 - fx) x left + fx x right, + 128, >> 8."""
    y0, y1, x0, x1, fy, fx = taps
    top = (16 - fx) * np.int64(img[y0, x0, c]) + fx * np.int64(img[y0, x1, c])
    bot = (16 - fx) * np.int64(img[y1, x0, c]) + fx * np.int64(img[y1, x1, c])
    return ((16 - fy) * top + fy * bot + 128) >> 8


def interpolate(b0: np.ndarray, b1: np.ndarray, s: np.ndarray, m: int, n: int) -> np.ndarray:
    """Frame m (0 < m < n) between b0 and b1 (HxWx3 uint8) along the smoothed field `s`."""
    o0, o1 = offsets(s, m, n)
    out = np.empty_like(b0)
    _interp(b0, b1, o0, o1, m, n, out)
    return out


def blend(b0: np.ndarray, b1: np.ndarray, m: int, n: int) -> np.ndarray:
    """Frame m between b0 and b1 without motion: ((n - m) b0 + m b1 + n // 2) // n."""
    return (((n - m) * b0.astype(np.int32) + m * b1.astype(np.int32) + (n >> 1)) // n
            ).astype(np.uint8)


# -- per-block modes (`block_modes`: BLEND 0, MOTION 1, EARLIER 2, LATER 3) -----------------
def rebuild_blocks(b0: np.ndarray, b1: np.ndarray, s: np.ndarray, m: int, n: int,
                   modes: np.ndarray, block: int) -> np.ndarray:
    """Frame m between b0 and b1 with each block x block block rebuilt by its mode (modes:
    (hb, wb) uint8): BLEND as `blend`, MOTION as `interpolate`, EARLIER / LATER the bilinear
    sample of b0 / b1 alone along the field `s`; each sample mixes the modes of the four
    blocks whose centres surround it (`_interp_overlapped`), so that block edges do not show."""
    out = np.empty_like(b0)
    o0, o1 = offsets(s, m, n)
    _interp_overlapped(b0, b1, o0, o1, m, n, modes, block, out)
    return out


def block_errors(b0: np.ndarray, b1: np.ndarray, s: np.ndarray, m: int, n: int,
                 real: np.ndarray, block: int, out: np.ndarray) -> None:
    """Add to out (4, hb, wb) int64 the squared RGB error against `real` (h x w x 3, h and w
    at most the frames') of frame m rebuilt by each mode, per block, in one pass (the
    encoder's map choice)."""
    o0, o1 = offsets(s, m, n)
    _errors(b0, b1, o0, o1, m, n, real, block, out)


@njit
def _four(b0, b1, o0, o1, m, n, inv, y, x, vals):
    """The four rebuilds of pixel (y, x) of frame m, per channel, into vals (4, 3): BLEND,
    MOTION, EARLIER (V0), LATER (V1); inv = `exact_recip(n)`."""
    h, w = b0.shape[0], b0.shape[1]
    half = n >> 1
    t0 = _taps(y * 16 + o0[1, y, x], x * 16 + o0[0, y, x], h, w)
    t1 = _taps(y * 16 + o1[1, y, x], x * 16 + o1[0, y, x], h, w)
    for c in range(3):
        v0, v1 = _at(b0, t0, c), _at(b1, t1, c)
        vb = (n - m) * np.int64(b0[y, x, c]) + m * np.int64(b1[y, x, c]) + half
        vm = (n - m) * v0 + m * v1 + half
        vals[0, c] = (vb * inv) >> 32 if inv else vb // n
        vals[1, c] = (vm * inv) >> 32 if inv else vm // n
        vals[2, c] = v0
        vals[3, c] = v1


@njit
def _errors(b0, b1, o0, o1, m, n, real, block, out):
    vals = np.empty((4, 3), np.int64)
    inv = exact_recip(n)
    for y in range(real.shape[0]):
        for x in range(real.shape[1]):
            _four(b0, b1, o0, o1, m, n, inv, y, x, vals)
            i, j = y // block, x // block
            for k in range(4):
                for c in range(3):
                    e = vals[k, c] - np.int64(real[y, x, c])
                    out[k, i, j] += e * e


@njit
def _interp_overlapped(b0, b1, o0, o1, m, n, modes, block, out):
    """Each sample a mix of its four rebuilds (`_four`) as the modes of the 2 x 2 blocks whose
    centres surround it choose them, with bilinear weights counted in half samples
    (overlapped blocks, as in overlapped block motion compensation: Orchard and Sullivan,
    IEEE TIP 1994), so that a block's mode fades into its neighbour's."""
    h, w = out.shape[0], out.shape[1]
    hb, wb = modes.shape[0], modes.shape[1]
    z2 = 2 * block
    total = z2 * z2
    shift = 0  # total is a power of 2 (block 16, 32 or 64): // total as a shift
    while (1 << shift) < total:
        shift += 1
    inv = exact_recip(n)
    vals = np.empty((4, 3), np.int64)
    for y in range(h):
        ty = 2 * y + 1 - block
        i0 = ty // z2
        ry = ty - z2 * i0
        ia, ib = min(max(i0, 0), hb - 1), min(max(i0 + 1, 0), hb - 1)
        for x in range(w):
            tx = 2 * x + 1 - block
            j0 = tx // z2
            rx = tx - z2 * j0
            ja, jb = min(max(j0, 0), wb - 1), min(max(j0 + 1, 0), wb - 1)
            _four(b0, b1, o0, o1, m, n, inv, y, x, vals)
            ka, kb, kc, kd = modes[ia, ja], modes[ia, jb], modes[ib, ja], modes[ib, jb]
            wa = (z2 - ry) * (z2 - rx)
            wb_ = (z2 - ry) * rx
            wc = ry * (z2 - rx)
            wd = ry * rx
            for c in range(3):
                v = (wa * vals[ka, c] + wb_ * vals[kb, c] + wc * vals[kc, c]
                     + wd * vals[kd, c] + (total >> 1))
                out[y, x, c] = v >> shift if (1 << shift) == total else v // total
