"""Code to a byte budget: search a rate knob whose coded size is monotonic in it.

One helper for every picture coder: the learned coders' size rises with their rate parameter q,
AV1's falls as its CRF rises (`falling=True`). The search keeps the coding at each knob value
it tried and returns the largest coding that fits the budget (the smallest coding, when none
does), so the caller never codes the chosen value twice.

AV1's size is monotone in its CRF only roughly: on a 20-frame 128x96 clip, CRF 34.5 gives
2,794 bytes and CRF 34 and 34.25 give 2,995 and 3,085. So when the bisection ends more than
`NEAR` below the budget, a few more steps towards the rich end are tried (LOOK_AHEAD).
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")
NEAR = 0.03  # a coding within this share below the budget is close enough
BUDGET_SLACK = 1.03  # a candidate coding over its budget by more than this is not within it
LOOK_AHEAD = 3  # knob steps tried past the bisection's answer when it is not


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
        k = round(round(k / step) * step, 6)
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
        k = round(round(cheap / step) * step, 6)
        return k, seen[k]
    if fits(rich):
        k = round(round(rich / step) * step, 6)
        return k, seen[k]
    for _ in range(max_steps):  # invariant: cheap fits, rich does not
        if abs(rich - cheap) <= step * 1.01:
            break
        mid = round(round((cheap + rich) / 2 / step) * step, 6)
        if mid in (cheap, rich):
            break
        if fits(mid):
            cheap = mid
        else:
            rich = mid
    k = round(round(cheap / step) * step, 6)
    toward_rich = -step if falling else step
    for i in range(1, LOOK_AHEAD + 1):
        if _best(seen, sizes, budget, over)[1] >= (1 - NEAR) * budget:
            break
        j = k + i * toward_rich
        if low <= j <= high:
            at(j)
    return _best(seen, sizes, budget, over)[0]


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
