"""2D classification with several threads: faster, and the same bytes as with one."""

from __future__ import annotations

from pathlib import Path

from cryopick.classification import Class2DJob, Class2DParams, run_class2d
from cryopick.classification.synthetic import write_synthetic_particles


def test_any_number_of_threads_writes_the_same_files(tmp_path, monkeypatch):
    write_synthetic_particles(tmp_path, n_particles=90, n_shapes=3, box_px=32,
                              pixel_size_a=3.0, snr=1.0, seed=6)
    monkeypatch.chdir(tmp_path)
    params = Class2DParams(n_classes=3, n_iter=2, tau2_fudge=2.0, particle_diameter_a=80.0,
                           zero_mask=True, ctf=True, psi_step_deg=12.0, offset_range_px=3.0,
                           offset_step_px=2.0, random_seed=1, batch_size=16)  # 6 batches
    for threads in (1, 3):
        run_class2d(Class2DJob(output_root=f"j{threads}/run", params=params, threads=threads,
                               particles_star="Extract/job007/particles.star"))
    # every iteration's files: with threads they are written beside the next iteration, and
    # the accuracy estimate runs beside the M-step
    for name in [f"run_it{i:03d}_{part}" for i in range(3)
                 for part in ("classes.mrcs", "model.star", "data.star", "optimiser.star")]:
        one, three = Path(f"j1/{name}").read_bytes(), Path(f"j3/{name}").read_bytes()
        assert one == three.replace(b"j3/run", b"j1/run"), name  # the model names its stack


def test_an_error_writing_an_iteration_in_the_background_ends_the_job(tmp_path, monkeypatch):
    import pytest

    from cryopick.classification import job as class2d_job

    write_synthetic_particles(tmp_path, n_particles=40, n_shapes=2, box_px=32,
                              pixel_size_a=3.0, snr=1.0, seed=2)
    monkeypatch.chdir(tmp_path)
    real = class2d_job.write_iteration

    def failing(root, model, state, particles, params, info):
        if info.iteration == 1:
            raise OSError("disk full")
        return real(root, model, state, particles, params, info)

    monkeypatch.setattr(class2d_job, "write_iteration", failing)
    params = Class2DParams(n_classes=2, n_iter=3, particle_diameter_a=80.0, psi_step_deg=12.0,
                           offset_range_px=3.0, offset_step_px=2.0, random_seed=1)
    with pytest.raises(OSError, match="disk full"):
        run_class2d(Class2DJob(output_root="run", params=params, threads=2,
                               particles_star="Extract/job007/particles.star"))
    assert not Path("run_it002_model.star").exists()  # it stopped at the next write
