"""`--speed`: what the av1 backbone's encoder spends its time on (issue 31).

    speed     SVT-AV1  structure search         gate  codings per fit  priors  split, maps  short
    ultrafast   8      none (every frame AV1)   off   1                no      no           no
    veryfast    8      none (every frame AV1)   off   2                no      no           no
    faster      8      below the floor, pruned  off   1                no      no           no
    fast        8      below the floor, pruned  off   2                no      no           no
    medium      8      below the floor, pruned  off   3 (the default)  no      yes          yes
    slow        6      below the floor          on    3                yes     yes          yes
    slower      4      below the floor          on    3                yes     yes          yes
    veryslow    2      every GOP                on    bisection        yes     yes          yes

("gate": the refinement gate.)

Names follow x265's presets; numbers 0 (ultrafast) .. 7 (veryslow) name them too. The two
fastest code at preset 8, not 12 and 10 as they first did: vgc's own fixed costs (the first
pass, reading the clip, the rate fit) held them to about 90 fps at 640x360, where SVT-AV1 preset
8 itself runs at 210-240 fps and scored 0.08-0.15 JOD more (benchmarks/RESULTS.md, issue 31).
"codings per fit": the AV1 codings of the first guess and its corrections; up to 3 more while
the file would be over 5 % off its budget. "Below the floor": the GOP is first coded with every
frame an AV1 frame at full scale; if that coding's CRF is at most FULL_AV1_CRF it is kept and
nothing else is tried (there full-rate AV1 won every structure search on the tuning clips:
benchmarks/RESULTS.md, issue 31), else the search runs (`av1._code_gop`). The gate runs the
refiner at the encoder on every window of a searched GOP; it gained +0.01 JOD in the issue 30
runs, so only the slow speeds pay for it. "priors": the chosen synthesised GOP, when at half or
quarter scale, is rebuilt once more with each installed pretrained upsampler the encoder tries
(`upsamplers.TRIED`, issue 33: three waifu2x priors with the wheel, else vgc's own), about 1.1 s
per 320x180 backbone each on 2 cores, and the header names one where it scores above Lanczos.
"split": the chosen synthesised GOP is tried with a backbone added at each interval's worst
rebuilt frame where it is more than 3 dB below its backbones (`chosen_gop.split`: one more rate
fit, 14-29 % more encode time below the floor, 18-29 % at 640x360); "maps": then with block mode
maps (`chosen_gop.mapped`): one more pass over its intervals, and, when the maps' bytes put it
over its budget, one more rate fit. "short": before the maps, a chosen synthesised GOP whose
backbones are under `synth_gop.SLOWER_FROM` frames apart is fitted once more with its backbones
at the preset longer intervals get (`synth_gop.synth_settings`: 4 below the file's, not below
4), and kept where it scores higher (`chosen_gop.slower`; cup360 and Megamind at 0.005 bpp:
+0.17 JOD for 5-10 % more encode time; moot where the file's preset is 4 or lower). "Pruned":
the search leaves out the GOPs whose frames between backbones carry motion (`av1._candidate`)
and every-frame AV1 at half scale, and it goes to a coarser scale of synthesised GOPs only while
each scale's best scores above the finer one's (`synth_gop.candidates`): none of those won a GOP
in the searches of benchmarks/RESULTS.md (issue 31, "A pruned search").
`--preset` overrides the speed's SVT-AV1 preset; `--fast` is "no search, no gate" at the
preset given (8 by default).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Speed:
    name: str
    preset: int  # SVT-AV1 preset of the backbones
    search: str  # "none", "below" (the floor: see FULL_AV1_CRF) or "always"
    gate: bool  # the refinement gate
    fit_codes: int  # AV1 codings per rate fit (0: bisection, `pictures.fit.fit_to_budget`)
    prior: bool = False  # try the pretrained upsamplers on a reduced-scale GOP (`upsamplers`)
    maps: bool = False  # try block mode maps on a chosen synthesised GOP (`chosen_gop.mapped`)
    pruned: bool = False  # the search leaves out what never won (see the module's docstring)
    split: bool = False  # try extra backbones on a chosen synthesised GOP (`chosen_gop.split`)
    short_slower: bool = False  # try a chosen synthesised GOP's backbones under
    # `synth_gop.SLOWER_FROM` apart at the slower preset (`chosen_gop.slower`)


SPEEDS = (
    Speed("ultrafast", 8, "none", False, 1),
    Speed("veryfast", 8, "none", False, 2),
    Speed("faster", 8, "below", False, 1, pruned=True),
    Speed("fast", 8, "below", False, 2, pruned=True),
    Speed("medium", 8, "below", False, 3, maps=True, pruned=True, split=True,
          short_slower=True),
    Speed("slow", 6, "below", True, 3, True, True, split=True, short_slower=True),
    Speed("slower", 4, "below", True, 3, True, True, split=True, short_slower=True),
    Speed("veryslow", 2, "always", True, 0, True, True, split=True, short_slower=True),
)
DEFAULT_SPEED = "medium"
FULL_AV1_CRF = 60.0  # see the module's docstring


def speed_named(name: str | int | None) -> Speed:
    """The Speed of a name or number (None: the default). ValueError: its message lists the
    choices."""
    if name is None:
        name = DEFAULT_SPEED
    text = str(name).strip().lower()
    for i, s in enumerate(SPEEDS):
        if text in (s.name, str(i)):
            return s
    raise ValueError(f"one of {', '.join(s.name for s in SPEEDS)} or 0 .. {len(SPEEDS) - 1}")
