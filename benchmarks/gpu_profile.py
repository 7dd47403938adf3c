"""Where template picking's time goes per micrograph, on a backend (CuPy by default).

Times each step that ``compute_fom_maps`` calls (the device synchronised around each), then
the host peak search, over the micrographs of a project that ``benchmarks/gpu.py --keep``
(or ``template_pick.py --keep``) left, after one warm-up micrograph. Usage::

    python benchmarks/gpu_profile.py PROJECT [--backend cupy]
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import time

from gpu import synchroniser, template_run

from cryopick.backend import get_backend
from cryopick.picking import template

STEPS = ["cropped_transforms", "forward", "fourier_window", "background_stats_from_transforms",
         "ctf_2d", "_fom_one_reference", "_template_sums", "inverse", "peaks_from_maps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project")
    parser.add_argument("--backend", default="cupy")
    args = parser.parse_args()
    os.chdir(args.project)
    bk = get_backend(args.backend)
    sync = synchroniser(bk.name)
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            sync()
            started = time.perf_counter()
            out = fn(*a, **k)
            sync()
            spent[name] += time.perf_counter() - started
            return out
        return wrapper

    for name in STEPS:
        setattr(template, name, timed(name, getattr(template, name)))
    run = template_run("Select/refs/class_averages.star", bk.name)
    mics, params, templates, images = run.mics, run.params, run.templates, run.images
    pixel = mics.pixel_size_a
    ny, nx = images[0].shape
    size = run.size
    print(f"n {size.n}, lowpass size {size.lowpass_n}, working size {size.w}")
    total = 0.0
    for i, image in enumerate(images):
        if i == 1:
            spent.clear()
            total = 0.0
        started = time.perf_counter()
        maps = template.compute_fom_maps(image, pixel, mics.ctf(i), templates, run.rotations,
                                         params, bk, i)
        template.peaks_from_maps(maps, nx, ny, pixel, templates, params)
        sync()
        total += time.perf_counter() - started
    n = len(images) - 1
    print(f"{bk.name}: {total / n * 1000:.1f} ms per micrograph over {n}; by step (ms, nested "
          "steps counted in their callers too):")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24s} {seconds / n * 1000:8.2f}")


if __name__ == "__main__":
    main()
