"""Warm start: a job handed over to the server runs in a forked child with the job's streams,
directory, environment and arguments, and ends as the job's process does."""

import os
import signal
import subprocess
import sys
import time

import pytest

from cryopick.warmstart import ENV_SOCKET

JOB = """
import os, sys, time
print("job", os.getpid(), os.getppid(), os.getcwd(), os.environ.get("JOB_WORD"), sys.argv[1:])
print("to stderr", file=sys.stderr)
if os.environ.get("JOB_SLEEP"):
    import subprocess
    worker = subprocess.Popen(["sleep", "60"])
    print("sleeping", worker.pid, flush=True)
    time.sleep(60)
sys.exit(int(os.environ.get("JOB_STATUS", "0")))
"""

SERVE = ("import sys; from cryopick.warmstart import serve; "
         "serve(sys.argv[1], int(sys.argv[2]), {preload})")

CLIENT = """
import sys
{before}
from cryopick.warmstart import hand_over
hand_over(sys.argv[1])
print("ran cold")
"""


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def server(tmp_path):
    """A server with numpy preloaded (its owner: this test's process)."""
    sock = str(tmp_path / "warm.sock")
    proc = subprocess.Popen([sys.executable, "-c", SERVE.format(preload="('numpy',)"), sock,
                             str(os.getpid())])
    assert _wait_for(lambda: os.path.exists(sock)), "the server did not start"
    yield sock, proc
    proc.kill()
    proc.wait()


def _client(tmp_path, sock, job_env=None, before="", sleep=False):
    job = tmp_path / "job.py"
    job.write_text(JOB)
    client = tmp_path / "client.py"
    client.write_text(CLIENT.format(before=before))
    env = dict(os.environ, JOB_WORD="hello", **(job_env or {}))
    if sock is not None:
        env[ENV_SOCKET] = sock
    if sleep:
        env["JOB_SLEEP"] = "1"
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, str(client), str(job), "--flag"], cwd=workdir,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("status", [0, 3])
def test_a_handed_over_job_runs_in_a_child_of_the_server_and_ends_with_its_status(
        tmp_path, server, status):
    sock, proc = server
    client = _client(tmp_path, sock, {"JOB_STATUS": str(status)})
    out, err = client.communicate(timeout=30)
    assert client.returncode == status
    assert "ran cold" not in out
    _, pid, ppid, cwd, word, argv = out.split(maxsplit=5)
    assert int(pid) != client.pid and int(ppid) == proc.pid  # forked by the server
    assert cwd == str(tmp_path / "work") and word == "hello"
    assert argv.strip() == str([str(tmp_path / "job.py"), "--flag"])
    assert "to stderr" in err


def test_without_a_server_or_with_another_python_the_job_runs_in_its_own_process(
        tmp_path, server):
    sock, _ = server
    for client in (_client(tmp_path, str(tmp_path / "missing.sock")),
                   _client(tmp_path, sock, before="sys.executable = '/another/python'")):
        out, _ = client.communicate(timeout=30)
        assert client.returncode == 0 and out.strip() == "ran cold"


def test_a_signal_to_the_jobs_process_reaches_the_job(tmp_path, server):
    sock, _ = server
    client = _client(tmp_path, sock, sleep=True)
    line = client.stdout.readline()
    assert line.startswith("job")
    child = int(line.split()[1])
    word, worker = client.stdout.readline().split()
    assert word == "sleeping"
    client.send_signal(signal.SIGTERM)
    client.communicate(timeout=30)
    assert client.returncode != 0
    assert _wait_for(lambda: not _exists(child) and not _exists(int(worker)))


def test_a_killed_jobs_process_takes_the_job_with_it(tmp_path, server):
    sock, _ = server
    client = _client(tmp_path, sock, sleep=True)
    child = int(client.stdout.readline().split()[1])
    word, worker = client.stdout.readline().split()
    assert word == "sleeping"
    client.kill()
    client.wait(timeout=30)
    assert _wait_for(lambda: not _exists(child) and not _exists(int(worker)))


def test_the_server_ends_with_its_owner_and_removes_its_socket(tmp_path):
    sock = str(tmp_path / "warm.sock")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    proc = subprocess.Popen([sys.executable, "-c", SERVE.format(preload="()"), sock,
                             str(owner.pid)])
    assert _wait_for(lambda: os.path.exists(sock))
    owner.wait()
    proc.wait(timeout=20)
    assert not os.path.exists(sock)


def test_the_server_ends_when_its_owner_has_ended_but_is_not_yet_reaped(tmp_path):
    """A parent that waits for every descendant (py-spy --subprocesses, a job runner reading
    the process tree) reaps Snakemake only after the server has gone: a zombie owner has ended."""
    sock = str(tmp_path / "warm.sock")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    proc = subprocess.Popen([sys.executable, "-c", SERVE.format(preload="()"), sock,
                             str(owner.pid)])
    try:
        assert _wait_for(lambda: os.path.exists(sock))
        assert _wait_for(lambda: not _exists(owner.pid))  # ended; this test has not reaped it
        proc.wait(timeout=20)
        assert not os.path.exists(sock)
    finally:
        proc.kill()
        owner.wait()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for the server to reap it
        return stat.read().split()[2] != "Z"


def test_start_server_serves_the_jobs_of_its_owner_and_can_be_switched_off(tmp_path,
                                                                          monkeypatch):
    import tempfile

    from cryopick.warmstart import ENV_SWITCH, start_server

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    monkeypatch.setenv(ENV_SOCKET, "")
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert start_server() is None and os.environ[ENV_SOCKET] == ""
    monkeypatch.setenv(ENV_SWITCH, "1")
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        sock = start_server(owner.pid)
        assert sock.startswith(str(tmp_path)) and os.environ[ENV_SOCKET] == sock
        assert _wait_for(lambda: os.path.exists(sock), timeout=60)
        client = _client(tmp_path, sock)
        out, _ = client.communicate(timeout=30)
        assert client.returncode == 0 and out.startswith("job")
    finally:
        owner.kill()
        owner.wait()
    assert _wait_for(lambda: not os.path.exists(sock))
