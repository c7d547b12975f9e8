"""Perceptual metrics that run offline, each behind an availability check.

    check_*() -> None when the metric can run here, else the reason it cannot (a sentence)
    *(ref, dec, fps=, device=) -> float, ref and dec NxHxWx3 uint8 RGB of equal shape

* ColorVideoVDP (`cvvdp` on PyPI, Mantiuk et al., SIGGRAPH 2024): JOD units, 10 = no visible
  difference, higher is better. Its calibrated parameters and display models ship in the
  package; we use its `standard_fhd` display (24-inch 1920x1080 monitor, 200 cd/m², office
  light, seen from 0.6 m), the clip shown at its native pixel size, as display-encoded sRGB.
* VMAF v0.6.1 (`vmaf-torch` on PyPI, a PyTorch port of Netflix libvmaf whose SVM model is
  in the package): 0..100 (clipped), higher is better. Computed on BT.601 limited-range luma
  of the RGB frames, at the clip's own resolution (libvmaf practice is to upscale to 1080p
  first; we do not, so compare VMAF only between codecs on the same clip).
* LPIPS (AlexNet, `lpips` on PyPI) and DISTS (VGG16, `DISTS-pytorch`): lower is better,
  mean over frames. Their small learned heads ship in the packages, but the ImageNet backbones
  come from torchvision's download cache (`torch.hub.get_dir()/checkpoints`); with no internet
  they run only when that file is already there. Otherwise they are reported as skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ..torch_env import torch

CVVDP_DISPLAY = "standard_fhd"
_MODELS: dict[str, object] = {}  # loaded once per process


# --- availability -------------------------------------------------------------------------

def _import_cvvdp():
    import logging

    # pycvvdp imports torch.utils.cpp_extension, which warns on machines without CUDA
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    logging.getLogger("pycvvdp").setLevel(logging.ERROR)
    import pycvvdp

    return pycvvdp


def check_cvvdp() -> str | None:
    try:
        _import_cvvdp()
    except Exception as e:  # ImportError, or a broken dependency
        return f"ColorVideoVDP not installed (pip install 'vidgen_codec[eval]'): {_short(e)}"
    return None


def check_vmaf() -> str | None:
    try:
        import vmaf_torch  # noqa: F401
    except Exception as e:
        return f"vmaf-torch not installed (pip install 'vidgen_codec[eval]'): {_short(e)}"
    return None


def check_lpips() -> str | None:
    try:
        import lpips  # noqa: F401
        from torchvision.models import AlexNet_Weights
    except Exception as e:
        return f"lpips not installed (pip install lpips): {_short(e)}"
    return _backbone_missing("AlexNet", AlexNet_Weights.IMAGENET1K_V1.url)


def check_dists() -> str | None:
    try:
        import DISTS_pytorch  # noqa: F401
        from torchvision.models import VGG16_Weights
    except Exception as e:
        return f"DISTS-pytorch not installed (pip install DISTS-pytorch): {_short(e)}"
    if not (_dists_dir() / "weights.pt").exists():
        return f"DISTS-pytorch has no weights.pt in {_dists_dir()}"
    return _backbone_missing("VGG16", VGG16_Weights.IMAGENET1K_V1.url)


def backbone_path(url: str) -> Path:
    """Where torchvision caches the checkpoint at `url` (no download is attempted)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _backbone_missing(name: str, url: str) -> str | None:
    path = backbone_path(url)
    if path.is_file():
        return None
    return (f"{name} ImageNet backbone weights not in the torch cache ({path}); this machine "
            f"cannot download them: copy {os.path.basename(url)} there to enable it")


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:160] or type(e).__name__


def _dists_dir() -> Path:
    import DISTS_pytorch

    return Path(DISTS_pytorch.__file__).resolve().parent


# --- the metrics --------------------------------------------------------------------------

@torch.no_grad()
def cvvdp(ref: np.ndarray, dec: np.ndarray, *, fps: float, device: str = "cpu") -> float:
    """ColorVideoVDP in JOD (10: no visible difference)."""
    pycvvdp = _import_cvvdp()
    key = f"cvvdp-{device}"
    if key not in _MODELS:
        import warnings

        with warnings.catch_warnings():  # a oneDNN TF32 notice on CPU-only torch builds
            warnings.simplefilter("ignore", UserWarning)
            _MODELS[key] = pycvvdp.cvvdp(display_name=CVVDP_DISPLAY, quiet=True,
                                         device=torch.device(device))
    metric = _MODELS[key]
    test = torch.from_numpy(np.ascontiguousarray(dec))
    reference = torch.from_numpy(np.ascontiguousarray(ref))
    q, _ = metric.predict(test, reference, dim_order="FHWC",
                          frames_per_second=float(fps) if len(ref) > 1 else 0)
    return float(q)


_VMAF_CHUNK = 32  # frames per ADM/VIF batch


@torch.no_grad()
def vmaf(ref: np.ndarray, dec: np.ndarray, *, fps: float = 0, device: str = "cpu") -> float:
    """VMAF v0.6.1 (0..100, clipped), mean over frames, on BT.601 luma at native size."""
    from vmaf_torch import VMAF

    key = f"vmaf-{device}"
    if key not in _MODELS:
        _MODELS[key] = VMAF(temporal_pooling=False, enable_motion=True,
                            clip_score=True).to(device).eval()
    model = _MODELS[key]
    n = len(ref)
    # motion of frame i: SAD of blurred luma to frame i-1; motion2 = min with frame i+1's.
    m1 = torch.zeros(n, 1, dtype=torch.float32)
    scores = []
    for s in range(0, n, _VMAF_CHUNK):
        e = min(n, s + _VMAF_CHUNK)
        lo = max(s - 1, 0)
        yr = _luma(ref[lo:e], device)
        m = model.compute_motion(yr).cpu()  # row j: frame lo+j vs lo+j-1 (row 0 meaningless)
        m1[max(s, 1):e] = m[max(s, 1) - lo:]
        yr, yd = yr[s - lo:], _luma(dec[s:e], device)
        scores.append((model.compute_adm_score(yr, yd), model.compute_vif_features(yr, yd)))
    m1[0] = 0
    motion2 = torch.minimum(m1, torch.roll(m1, -1, 0))
    motion2[0] = 0
    motion2[-1] = m1[-1]
    adm = torch.cat([a for a, _ in scores]).float()
    vif = torch.cat([v for _, v in scores]).float()
    per_frame = model.predict(adm, motion2.to(adm.device), vif)
    return float(per_frame.mean())


@torch.no_grad()
def lpips(ref: np.ndarray, dec: np.ndarray, *, fps: float = 0, device: str = "cpu") -> float:
    """LPIPS v0.1 with the AlexNet backbone, mean over frames (0: identical)."""
    import lpips as lpips_pkg

    key = f"lpips-{device}"
    if key not in _MODELS:
        _MODELS[key] = lpips_pkg.LPIPS(net="alex", verbose=False).to(device).eval()
    model = _MODELS[key]
    total = 0.0
    for s in range(0, len(ref), 8):
        a = _rgb(ref[s:s + 8], device) * 2 - 1
        b = _rgb(dec[s:s + 8], device) * 2 - 1
        total += float(model(a, b).sum())
    return total / len(ref)


@torch.no_grad()
def dists(ref: np.ndarray, dec: np.ndarray, *, fps: float = 0, device: str = "cpu") -> float:
    """DISTS (VGG16 backbone), mean over frames (0: identical)."""
    from DISTS_pytorch import DISTS

    key = f"dists-{device}"
    if key not in _MODELS:
        model = DISTS(load_weights=False)  # the package looks for weights.pt in sys.prefix
        w = torch.load(_dists_dir() / "weights.pt", map_location="cpu")
        model.alpha.data, model.beta.data = w["alpha"], w["beta"]
        _MODELS[key] = model.to(device).eval()
    model = _MODELS[key]
    total = 0.0
    for s in range(0, len(ref), 8):
        total += float(model(_rgb(ref[s:s + 8], device), _rgb(dec[s:s + 8], device),
                             batch_average=False).sum())
    return total / len(ref)


def _rgb(frames: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2) \
        .float().div_(255)


def _luma(frames: np.ndarray, device: str) -> torch.Tensor:
    """(N,1,H,W) BT.601 limited-range luma on [0, 255], float32."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).float()
    y = 16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255
    return y[:, None]
