"""Code to a byte budget: search a rate knob whose coded size is monotonic in it.

One helper for every picture coder: the learned coders' size rises with their rate parameter q,
AV1's falls as its CRF rises (`falling=True`). The search keeps the coding at each knob value
it tried and returns the largest coding that fits the budget (the smallest coding, when none
does), so the caller never codes the chosen value twice.

AV1's size is monotone in its CRF only roughly: on a 20-frame 128x96 clip, CRF 34.5 gives
2,794 bytes and CRF 34 and 34.25 give 2,995 and 3,085. So when the bisection ends more than
`NEAR` below the budget, a few more steps towards the rich end are tried (LOOK_AHEAD).

`fit_from_guess` is the fast search (issue 31): it starts at a predicted knob and steps by a
model of the size's slope, ln(bytes) linear in the knob, then by the secant through the codings
it has; it stops at the first coding within [1 - close, 1 + over] of the budget (close: NEAR
unless the caller says), or after `max_codes` codings (the guess and at most max_codes - 1
corrections).
"""

from __future__ import annotations

import math
from typing import Callable, TypeVar

T = TypeVar("T")
NEAR = 0.03  # a coding within this share below the budget is close enough
BUDGET_SLACK = 1.03  # a candidate coding over its budget by more than this is not within it
LOOK_AHEAD = 3  # knob steps tried past the bisection's answer when it is not


def snap(knob: float, step: float) -> float:
    """knob on the grid of `step` (rounded to 6 places, so that equal knobs are equal keys)."""
    return round(round(knob / step) * step, 6)


def fit_to_budget(code: Callable[[float], T], size: Callable[[T], int], budget: float,
                  low: float, high: float, step: float, *, falling: bool,
                  guess: float | None = None, max_steps: int = 12,
                  over: float = 0.0) -> tuple[float, T]:
    """(knob, coding) for the knob in [low, high] (multiples of `step`) whose coding is the
    largest not above `budget`; the smallest coding when even the cheapest end is over.
    `over` > 0 lets the nearest coding above the budget win when it is closer to the budget
    and at most (1 + over) * budget (a caller that carries the difference on)."""
    seen: dict[float, T] = {}
    sizes: dict[float, int] = {}  # the size of each coding, measured once

    def at(k: float) -> int:
        k = snap(k, step)
        if k not in seen:
            seen[k] = code(k)
            sizes[k] = size(seen[k])
        return sizes[k]

    def fits(k: float) -> bool:
        return at(k) <= budget

    # bytes fall towards `cheap`; search the boundary between fitting and not fitting
    cheap, rich = (high, low) if falling else (low, high)
    if guess is not None:
        g = min(max(guess, low), high)
        if fits(g):
            cheap = g
        else:
            rich = g
    if not fits(cheap):
        k = snap(cheap, step)
        return k, seen[k]
    if fits(rich):
        k = snap(rich, step)
        return k, seen[k]
    for _ in range(max_steps):  # invariant: cheap fits, rich does not
        if abs(rich - cheap) <= step * 1.01:
            break
        mid = snap((cheap + rich) / 2, step)
        if mid in (cheap, rich):
            break
        if fits(mid):
            cheap = mid
        else:
            rich = mid
    k = snap(cheap, step)
    toward_rich = -step if falling else step
    for i in range(1, LOOK_AHEAD + 1):
        if _best(seen, sizes, budget, over)[1] >= (1 - NEAR) * budget:
            break
        j = k + i * toward_rich
        if low <= j <= high:
            at(j)
    return _best(seen, sizes, budget, over)[0]


def fit_from_guess(code: Callable[[float], T], size: Callable[[T], int], budget: float,
                   low: float, high: float, step: float, *, guess: float,
                   slope: Callable[[float], float], falling: bool, max_codes: int = 3,
                   over: float = 0.0, miss: float = 0.05, extra: int = 3,
                   close: float = NEAR) -> tuple[tuple[float, T], int]:
    """((knob, coding), codings made) of the coding nearest the budget as `fit_to_budget`
    chooses it (the largest that fits, or the nearest above within `over`), searched from
    `guess`: the next knob is the one where the line through the two codings nearest the
    budget (one coding: `slope(knob)`, the assumed d ln(bytes) / d knob magnitude there)
    meets it; it stops at a coding within [1 - close, 1 + over] of the budget. After
    `max_codes` codings, up to `extra` more while the chosen one is more than `miss` off the
    budget."""
    seen: dict[float, T] = {}
    sizes: dict[float, int] = {}
    sign = -1.0 if falling else 1.0  # d ln(bytes) / d knob has this sign

    def on_grid(k: float) -> float:  # `snap`, within [low, high]
        return round(min(max(round(k / step) * step, low), high), 6)

    k = on_grid(guess)
    while len(seen) < max_codes + extra:
        if len(seen) >= max_codes:
            chosen = _best(seen, sizes, budget, over)[1]
            if abs(chosen - budget) <= miss * budget:
                break
        seen[k] = code(k)
        sizes[k] = max(size(seen[k]), 1)
        if (1 - close) * budget <= sizes[k] <= (1 + over) * budget:
            break
        pts = sorted(sizes, key=lambda j: abs(math.log(sizes[j] / budget)))[:2]
        model = slope(pts[0])
        s = model
        if len(pts) == 2 and pts[0] != pts[1]:
            d = sign * (math.log(sizes[pts[0]]) - math.log(sizes[pts[1]])) / (pts[0] - pts[1])
            s = min(max(d, model / 3), model * 3)  # a noisy pair: keep it near the model
        near = pts[0]
        nxt = on_grid(near + sign * math.log(budget / sizes[near]) / s)
        if nxt in seen:  # the line says a knob already tried: one step the needed way
            toward = sign * (1 if budget > sizes[near] else -1)
            nxt = on_grid(near + toward * step)
            if nxt in seen:
                break
        k = nxt
    return _best(seen, sizes, budget, over)[0], len(seen)


def _best(seen: dict, sizes: dict, budget: float, over: float):
    """((knob, coding), bytes) of the largest coding that fits; with `over`, the nearest one
    above the budget (at most (1 + over) * budget) when it is nearer than that."""
    fit = [k for k, b in sizes.items() if b <= budget]
    k = max(fit, key=lambda k: (sizes[k], -k)) if fit else min(sizes, key=sizes.get)
    above = [j for j, b in sizes.items() if budget < b <= (1 + over) * budget]
    if fit and above:
        j = min(above, key=lambda j: (sizes[j], j))
        if sizes[j] - budget < budget - sizes[k]:
            k = j
    return (k, seen[k]), sizes[k]


def choose_within_budget(candidates: list[T], budget: float | None, score: Callable[[T], float],
                         size: Callable[[T], int]) -> T:
    """Of codings of the same frames (stem's structures, s2vc's I-frame shares): the best
    score (fewer bytes on a tie) among those within BUDGET_SLACK of `budget` (every one when
    it is None); when none is, the smallest (the better score on a tie)."""
    fits = [c for c in candidates if budget is None or size(c) <= BUDGET_SLACK * budget]
    if fits:
        return max(fits, key=lambda c: (score(c), -size(c)))
    return min(candidates, key=lambda c: (size(c), -score(c)))
