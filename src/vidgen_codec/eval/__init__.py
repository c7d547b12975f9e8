"""`vgc eval`: rate / quality / temporal-coherence evaluation of vgc codecs against x264, x265
and SVT-AV1 at matched sizes.

    run.py                orchestration, per-point cache, --jobs
    baselines.py          PyAV encoders searched to a byte target (+-5 %), one GOP
    metric_set.py         the metrics, their direction and availability
    metrics_perceptual.py ColorVideoVDP, VMAF, LPIPS, DISTS (offline, or skipped with a reason)
    warp_error.py         E_warp along the reference's DIS optical flow, occlusion-masked
    bdrate.py             Bjøntegaard delta rate (PCHIP, as the JCT-VC/JVET CTC sheets)
    report.py, plots.py   results.csv, BD-rate tables, text tables, PNG plots
    resources.py          wall time and peak memory

Nothing heavy is imported here; `from vidgen_codec.eval.run import EvalConfig, run_eval`.
"""
