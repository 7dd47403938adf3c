"""Faults on a cluster: resuming an interrupted per-micrograph job, naming a resource to raise."""

from __future__ import annotations

import os

from cryopick.picking.job import AutopickJob, coordinate_path, unfinished
from cryopick.workflow import end_attempt, job_key, publish_pictures, resource_advice, \
    start_attempt


def test_an_attempt_resumes_only_when_inputs_and_settings_are_unchanged(tmp_path):
    star = tmp_path / "mics.star"
    star.write_text("data_\n")
    marker = tmp_path / ".shards/0.attempt"
    key = job_key([star], {"threshold": 0.5})
    assert start_attempt(marker, key) is None  # first attempt: afresh
    since = start_attempt(marker, key)  # interrupted, same job: resume
    assert since == marker.stat().st_mtime_ns
    assert start_attempt(marker, job_key([star], {"threshold": 0.6})) is None  # settings changed
    os.utime(star, ns=(1, 1))
    assert job_key([star], {"threshold": 0.6}) != marker.read_text().strip()  # input changed
    end_attempt(marker)
    assert not marker.exists()
    assert start_attempt(marker, key) is None  # after a finished attempt: afresh


def test_only_outputs_written_since_the_attempt_began_count_as_finished(tmp_path):
    odir = f"{tmp_path}/AutoPick/LoG/"
    names = ["Movies/a.mrc", "Movies/b.mrc", "Movies/c.mrc"]
    tasks = [(i, name) for i, name in enumerate(names)]
    old, new = (coordinate_path(odir, n, "autopick") for n in names[:2])
    for path in (old, new):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("data_\n")
    os.utime(old, ns=(10**9, 10**9))  # left by an earlier, finished run
    since = new.stat().st_mtime_ns
    job = AutopickJob(odir=odir, resume_since_ns=since)
    assert unfinished(tasks, job) == [(0, "Movies/a.mrc"), (2, "Movies/c.mrc")]
    assert unfinished(tasks, AutopickJob(odir=odir)) == tasks


def test_pictures_are_published_with_their_layout(tmp_path):
    staging = tmp_path / ".pictures/shard0"
    (staging / "Movies").mkdir(parents=True)
    (staging / "Movies/a_autopick.png").write_bytes(b"png")
    publish_pictures(staging, tmp_path / "pictures/shard0")
    assert (tmp_path / "pictures/shard0/Movies/a_autopick.png").read_bytes() == b"png"


SLURM_FAILURE = """\
Error in rule class2d:
    message: SLURM-job '23' failed, SLURM status is: 'OUT_OF_MEMORY'. Detailed failure reason unavailable (status command is not 'sacct').
    jobid: 6
    log: logs/class2d.log (check log file(s) for error details)
Error in rule extract_log:
    message: SLURM-job '24' failed, SLURM status is: 'TIMEOUT'.
Error in rule select_templates:
    message: SLURM-job '25' failed, SLURM status is: 'FAILED'.
"""


def test_resource_advice_names_each_rule_and_the_resource_to_raise():
    advice = resource_advice(SLURM_FAILURE)
    assert len(advice) == 2  # FAILED is not a resource shortage
    assert advice[0].startswith("rule class2d ran out of memory") and "`mem_mb`" in advice[0]
    assert "set-resources: class2d:" in advice[0] and "profiles/slurm" in advice[0]
    assert advice[1].startswith("rule extract_log ran out of time") and "`runtime`" in advice[1]


def test_the_runs_end_cancels_the_timers_left_waiting():
    """Snakemake's rate limiter leaves a non-daemon timer of ~1 s behind; the workflow's
    onsuccess/onerror handlers cancel it, and the process need not wait for it."""
    import threading

    from cryopick.workflow import cancel_timers

    fired = []
    timer = threading.Timer(60.0, lambda: fired.append(True))
    timer.start()
    assert cancel_timers() >= 1
    timer.join(timeout=5.0)
    assert not timer.is_alive() and not fired
    assert cancel_timers() == 0
