"""Template-picking job and repick command: FOM maps, continue semantics, sweep, bad input."""

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import rotate

from cryopick.cli.main import main
from cryopick.io.mrc import write_mrc
from cryopick.io.star import read_coordinates, write_star

PIXEL_A, BOX = 2.0, 64
FLAGS = ["--ref", "refs.mrcs", "--invert", "--ang", "15", "--lowpass", "20", "--shrink", "0",
         "--min_distance", "60"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Two micrographs with dark rotated copies of a white reference."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:BOX, :BOX] - BOX // 2
    ref = (np.exp(-(yy**2 + xx**2) / 98.0) + 0.8 * np.exp(-((yy + 8) ** 2 + (xx - 6) ** 2) / 32)
           ) * ((yy**2 + xx**2) < 625)
    write_mrc("refs.mrcs", ref[None].astype(np.float32), PIXEL_A, stack=True)
    names = []
    for m in range(2):
        image = rng.normal(0, 1, (480, 480)).astype(np.float32)
        for y, x in [(100, 100), (100, 300), (300, 120), (320, 340)]:
            image[y - 32:y + 32, x - 32:x + 32] -= 1.5 * rotate(ref, 40.0 * (m + 1) + x,
                                                                reshape=False, order=1)
        names.append(f"Movies/m{m}.mrc")
        write_mrc(names[-1], image, PIXEL_A)
    optics = pd.DataFrame({"rlnOpticsGroupName": ["g1"], "rlnOpticsGroup": [1],
                           "rlnMicrographPixelSize": [PIXEL_A], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    write_star("mics.star", {"optics": optics,
                             "micrographs": pd.DataFrame({"rlnMicrographName": names,
                                                          "rlnOpticsGroup": [1, 1]})})
    return tmp_path


def _picks(path):
    return read_coordinates(path)[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy()


def test_picks_written_maps_and_repick_from_them(project):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *FLAGS, "--threshold", "0.3",
                 "--write_fom_maps", "--j", "2"]) == 0
    first = _picks(project / "A/Movies/m0_autopick.star")
    assert len(first) == 4
    assert (project / "A/Movies/m0_autopick_ref000000._bestCCF.spi").is_file()
    assert main(["repick", "--i", "mics.star", "--odir", "A/", *FLAGS,
                 "--threshold", "1e9"]) == 0
    assert len(_picks(project / "A/Movies/m0_autopick.star")) == 0


def test_sweep_counts_fall_with_the_threshold(project, capsys):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *FLAGS,
                 "--write_fom_maps"]) == 0
    capsys.readouterr()
    assert main(["repick", "--i", "mics.star", "--odir", "A/", *FLAGS, "--sweep", "0:4:0.5",
                 "--sweep_plot", "sweep.png"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    totals = [int(line.split()[-1]) for line in lines[2:]]
    assert len(totals) == 9 and totals[0] == 8 and totals == sorted(totals, reverse=True)
    assert (project / "sweep.png").stat().st_size > 5000


def test_continue_without_fom_maps_picks_only_new_micrographs(project):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *FLAGS]) == 0
    done = project / "A/Movies/m1_autopick.star"
    done.write_text(done.read_text() + "# kept\n")
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *FLAGS,
                 "--only_do_unfinished"]) == 0
    assert done.read_text().endswith("# kept\n")


def test_missing_fom_maps_fail_before_writing(project, caplog):
    assert main(["repick", "--i", "mics.star", "--odir", "A/", *FLAGS]) == 1
    assert "FOM map not found" in caplog.text
    assert not (project / "A").exists() or not list((project / "A").rglob("*.star"))


def test_gentle_clean_deletes_the_maps(project):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *FLAGS, "--write_fom_maps",
                 "--delete_fom_maps"]) == 0
    assert not list((project / "A").rglob("*.spi"))
    assert len(_picks(project / "A/Movies/m0_autopick.star")) == 4


def test_ctf_without_defocus_and_empty_references_are_refused(project, caplog):
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *FLAGS, "--ctf"]) == 1
    assert "--ctf needs rlnDefocusU" in caplog.text
    write_star("empty.star", {"": pd.DataFrame({"rlnReferenceImage": []})})
    flags = ["--ref", "empty.star", *FLAGS[2:]]
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *flags]) == 1
    assert "no reference images" in caplog.text


def test_reruns_and_parallel_runs_write_identical_files(project):
    flags = [*FLAGS, "--threshold", "0.3", "--write_fom_maps"]
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *flags, "--j", "1",
                 "--png_dir", "A/pics"]) == 0
    assert main(["autopick", "--i", "mics.star", "--odir", "B/", *flags, "--j", "2",
                 "--png_dir", "B/pics"]) == 0
    # these name their own job folder (A/ or B/), so they differ by design
    named = {"coords_suffix_autopick.star", "autopick.star", "summary.png"}

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and p.name not in named}

    a, b = files(project / "A"), files(project / "B")
    # per micrograph: picks, 4 maps, picture; and qc.star with its one shard part
    assert len(a) == 15 and a.keys() == b.keys()
    assert [str(k) for k in a if a[k] != b[k]] == []


def test_borrowed_maps_give_the_picks_of_computed_ones(project, monkeypatch):
    """A pass that borrows another pass's FOM maps (the workflow's final pass, the subset's
    maps of the optimisation pass) picks what it would have computed, without computing."""
    import argparse

    from cryopick.cli.autopick import build_parser, template_params
    from cryopick.io.star import read_micrographs_star
    from cryopick.picking import template_job
    from cryopick.picking.job import AutopickJob

    flags = [*FLAGS, "--seed_by_name", "--threshold", "0.2"]
    assert main(["autopick", "--i", "mics.star", "--odir", "A/", *flags, "--threshold", "1e9",
                 "--write_fom_maps"]) == 0  # another peak search (none), the same maps
    assert main(["autopick", "--i", "mics.star", "--odir", "C/", *flags]) == 0
    args = build_parser().parse_args(["--i", "mics.star", "--odir", "B/", *flags])
    assert isinstance(args, argparse.Namespace)
    params, spec = template_params(args)
    computed = []
    real = template_job.compute_fom_maps
    monkeypatch.setattr(template_job, "compute_fom_maps",
                        lambda image, *a, **k: computed.append(image.shape) or real(image, *a, **k))
    job = AutopickJob(odir="B/", backend="numpy", borrow_maps=frozenset({"Movies/m0.mrc"}),
                      borrow_dir="A/")
    template_job.run_autopick_template(read_micrographs_star("mics.star"), params, spec, job)
    assert len(computed) == 1  # m1 only
    for m in ("m0", "m1"):
        np.testing.assert_array_equal(_picks(project / f"B/Movies/{m}_autopick.star"),
                                      _picks(project / f"C/Movies/{m}_autopick.star"))
    assert len(_picks(project / "A/Movies/m0_autopick.star")) == 0
    assert len(_picks(project / "B/Movies/m0_autopick.star")) == 4


def test_a_second_job_in_the_same_process_gets_the_rotations_of_its_own_references():
    """The per-process rotations are keyed by the references and the ψ sampling: a script
    (or this test suite) running two jobs with references of the same size gets each job's."""
    from cryopick.backend import get_backend
    from cryopick.picking.references import TemplateSet
    from cryopick.picking.template import TemplatePickParams, prepare_rotations
    from cryopick.picking.template_job import _rotations
    from cryopick.picking.working_size import working_size

    rng = np.random.default_rng(3)
    size = working_size(256, 256, 2.0, 20.0, 0, False)
    params = TemplatePickParams(angular_sampling_deg=30.0)
    first, second = (TemplateSet(rng.normal(size=(2, 32, 32)).astype(np.float32), 32, 100,
                                 300, 40.0) for _ in range(2))
    for templates in (first, second, first):
        got = _rotations(templates, size, params, "numpy")
        expected = prepare_rotations(templates, size, params, get_backend("numpy"))
        assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    coarser = _rotations(first, size, TemplatePickParams(angular_sampling_deg=60.0), "numpy")
    assert coarser[0].shape[0] == got[0].shape[0] // 2
