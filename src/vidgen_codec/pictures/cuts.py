"""Scene cuts, for any codec that starts GOPs at them (stem; the first pass of a chunked encode,
`parallel/plan.py`): PySceneDetect's content detector (HSV frame differences with a
flash filter; Castellano, PySceneDetect), fed one frame at a time as the encoder reads them.

A cut at frame t makes t the first frame of a new GOP: no backbone or motion frame predicts
across it. The detector sees the frames' real area, downscaled to at most 256 px wide (its
HSV statistics do not need more, and this keeps it cheap at 1080p).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_SCENE_FRAMES = 8  # a cut closer than this to the last one is ignored
THRESHOLD = 27.0  # PySceneDetect's default content threshold


@dataclass
class CutDetector:
    detector: object = field(default=None)

    def __post_init__(self):
        from scenedetect.detectors import ContentDetector
        from scenedetect.scene_detector import FlashFilter

        # SUPPRESS reports a cut on the frame where it happens (MERGE waits for the next one)
        self.detector = ContentDetector(threshold=THRESHOLD, min_scene_len=MIN_SCENE_FRAMES,
                                        filter_mode=FlashFilter.Mode.SUPPRESS)

    def is_cut(self, t: int, rgb: np.ndarray) -> bool:
        """True when frame t (RGB uint8) starts a new shot."""
        step = max(1, rgb.shape[1] // 256)
        bgr = np.ascontiguousarray(rgb[::step, ::step, ::-1])
        return t in self.detector.process_frame(t, bgr)
