"""review.yaml: the review page's decisions as workflow config overrides, with clear errors."""

import pandas as pd
import pytest

from cryopick.errors import InputError
from cryopick.io.star import write_star
from cryopick.review.decisions import ReviewDecisions, read_project_review, read_review

MICS = ["Movies/a.mrc", "Movies/b.mrc", "Movies/c.mrc"]


def test_no_review_file_decides_nothing(tmp_path):
    decisions = read_review(tmp_path / "review.yaml", MICS)
    assert decisions == ReviewDecisions()
    assert decisions.config_overrides() == {}
    config = {"autopick_template": {"final": {"threshold": "auto"}}}
    decisions.apply(config)
    assert config == {"autopick_template": {"final": {"threshold": "auto"}}}
    assert decisions.describe() == ["no review.yaml: the config's values apply"]


def test_threshold_and_exclusions_become_the_two_config_keys(tmp_path):
    path = tmp_path / "review.yaml"
    path.write_text("threshold: 0.4\nexclude_micrographs:\n- Movies/b.mrc\n")
    decisions = read_review(path, MICS)
    assert decisions.config_overrides() == {
        "autopick_template": {"final": {"threshold": 0.4}},
        "exclude_micrographs": ["Movies/b.mrc"]}
    config = {"autopick_template": {"lowpass_a": 20, "final": {"threshold": "auto",
                                                              "min_distance_a": 100}},
              "shards": 1, "exclude_micrographs": []}
    decisions.apply(config)
    assert config == {"autopick_template": {"lowpass_a": 20, "final": {
        "threshold": 0.4, "min_distance_a": 100}}, "shards": 1,
        "exclude_micrographs": ["Movies/b.mrc"]}
    lines = decisions.describe()
    assert lines[0].startswith("autopick_template.final.threshold: 0.4 (from ")
    assert "1 micrograph(s)" in lines[1] and lines[1].endswith("Movies/b.mrc")


def test_only_what_is_decided_is_overridden(tmp_path):
    path = tmp_path / "review.yaml"
    path.write_text("exclude_micrographs: [Movies/a.mrc, Movies/c.mrc]\n")
    assert read_review(path, MICS).config_overrides() == {
        "exclude_micrographs": ["Movies/a.mrc", "Movies/c.mrc"]}
    path.write_text("# nothing decided\n")
    assert read_review(path, MICS).config_overrides() == {}
    assert read_review(path, MICS).describe() == [f"{path}: no decisions"]


@pytest.mark.parametrize("text, message", [
    ("threshold: [1\n", "not valid YAML"),
    ("- 0.3\n", "expected a mapping"),
    ("threshold: 0.3\nthreshhold: 0.4\n", "unknown key(s) threshhold"),
    ("threshold: high\n", "threshold must be a finite number"),
    ("threshold: .nan\n", "threshold must be a finite number"),
    ("threshold: true\n", "threshold must be a finite number"),
    ("exclude_micrographs: Movies/a.mrc\n", "must be a list of micrograph names"),
    ("exclude_micrographs: [Movies/a.mrc, Movies/a.mrc]\n", "lists Movies/a.mrc twice"),
    ("exclude_micrographs: [Movies/z.mrc]\n", "not in the micrograph STAR file: Movies/z.mrc"),
])
def test_a_malformed_review_file_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "review.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_review(path, MICS)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_names_are_not_checked_before_the_micrograph_star_exists(tmp_path):
    path = tmp_path / "review.yaml"
    path.write_text("exclude_micrographs: [Movies/z.mrc]\n")
    assert read_review(path, None).exclude_micrographs == ("Movies/z.mrc",)


def test_the_workflow_reads_review_yaml_of_the_project_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_project_review("mics.star") == ReviewDecisions()  # neither file yet
    (tmp_path / "review.yaml").write_text("exclude_micrographs: [Movies/z.mrc]\n")
    assert read_project_review("mics.star").exclude_micrographs == ("Movies/z.mrc",)
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnMicrographPixelSize": [1.0],
                           "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1]})
    write_star("mics.star", {"optics": optics, "micrographs": pd.DataFrame(
        {"rlnMicrographName": MICS, "rlnOpticsGroup": [1, 1, 1]})})
    with pytest.raises(InputError, match="not in the micrograph STAR file: Movies/z.mrc"):
        read_project_review("mics.star")
