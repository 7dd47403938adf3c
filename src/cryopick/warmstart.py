"""Warm start for the jobs of a local workflow run.

Every Snakemake job is a new Python process, and each spent 0.5–0.9 s importing numpy, scipy,
pandas, starfile, matplotlib and cryopick before doing its work: about 6 s of a 33 s tutorial
chain. In a local run (not on a cluster, not a dry run) the workflow's ``onstart`` starts one
server per Snakemake process that imports all of that once and then waits. Each job's script
hands itself over to it: the server forks a child, already warm, which runs the job's script
(Snakemake's generated file, preamble and all) in the job's directory, with its environment,
arguments and standard streams; the job's process waits, forwards signals to the child and
exits with its exit status.

Nothing else changes: the job runs the same code on the same inputs, in a process of its
own. Without a server (cluster jobs, ``CRYOPICK_WARM_START=0``, a server not started or not
ready) the script runs as before. The server exits with the Snakemake process that started it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

__all__ = ["ENV_SOCKET", "PRELOAD", "hand_over", "serve", "socket_path", "start_server"]

ENV_SOCKET = "CRYOPICK_WARM_SOCKET"  # the server's socket, set for the jobs of a local run
ENV_CHILD = "CRYOPICK_WARM_CHILD"  # set in the child: it runs the job itself
ENV_SWITCH = "CRYOPICK_WARM_START"  # 0: no server
# a job that starts while the server is still importing (up to SERVER_START_S after it was
# started) waits for it, at most WAIT_FOR_SERVER_S (less than a cold start's imports)
SERVER_START_S = 3.0
WAIT_FOR_SERVER_S = 0.4

# what the jobs import (cupy is left out: a CUDA context must not be made before a fork)
PRELOAD = (
    "numpy", "scipy.fft", "scipy.ndimage", "scipy.sparse", "scipy.spatial", "scipy.special",
    "scipy.optimize", "threadpoolctl", "pandas", "starfile", "mrcfile", "yaml", "PIL.Image",
    "matplotlib.pyplot",
    "snakemake.iocontainers", "snakemake.logging", "snakemake.script",
    "cryopick.workflow.rules", "cryopick.picking.log", "cryopick.picking.subset",
    "cryopick.picking.job", "cryopick.picking.gather", "cryopick.picking.template_job",
    "cryopick.picking.auto_threshold", "cryopick.picking.plots", "cryopick.extraction",
    "cryopick.extraction.plots", "cryopick.workflow.class2d", "cryopick.classification.job",
    "cryopick.classification.plots", "cryopick.workflow.templates",
    "cryopick.classification.class_selection", "cryopick.review.page",
    "cryopick.review.screenshot",
)
_HEADER = struct.Struct("!I")
_STATUS = struct.Struct("!i")


def socket_path(owner_pid: int) -> str:
    """The socket of the server that serves the jobs of Snakemake process ``owner_pid``."""
    folder = os.path.join(tempfile.gettempdir(), f"cryopick-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, f"warm-{owner_pid}.sock")


def start_server(owner_pid: int | None = None) -> str | None:
    """Start the server of this (Snakemake) process in the background and name its socket in
    the environment the jobs inherit; returns the socket's path (None when switched off)."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None
    owner_pid = os.getpid() if owner_pid is None else owner_pid
    try:
        path = socket_path(owner_pid)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        subprocess.Popen([sys.executable, "-m", "cryopick.warmstart", path, str(owner_pid)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    except OSError:  # no temporary folder to write, no process to start: the jobs start cold
        return None
    os.environ[ENV_SOCKET] = path
    os.environ[f"{ENV_SOCKET}_SINCE"] = repr(time.time())
    return path


def hand_over(script: str | None) -> None:
    """Run this job's script (Snakemake's generated file ``script``) in a warm child of the
    server and exit with its status; returns (and the caller runs the job itself) when no
    server can take it."""
    path = os.environ.get(ENV_SOCKET)
    if not script or not path or os.environ.get(ENV_CHILD) or "SLURM_JOB_ID" in os.environ:
        return
    conn = _connect(path)
    if conn is None:
        return
    env = dict(os.environ)
    env[ENV_CHILD] = "1"
    request = json.dumps({"script": script, "cwd": os.getcwd(), "env": env,
                          "argv": sys.argv, "executable": sys.executable}).encode()
    try:
        socket.send_fds(conn, [_HEADER.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        pid = _receive(conn, _STATUS)
    except OSError:
        pid = None
    if pid is None:  # the server could not start it: run it here
        conn.close()
        return

    def forward(signum, _frame):  # to the job and the processes it started (its group)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1,
                   signal.SIGUSR2):
        signal.signal(signum, forward)
    status = _receive(conn, _STATUS)
    if status is None:
        print(f"cryopick: the job's process {pid} ended without an exit status (killed?)",
              file=sys.stderr)
        status = 1
    os._exit(status)


def _connect(path: str) -> socket.socket | None:
    since = float(os.environ.get(f"{ENV_SOCKET}_SINCE", "0"))
    deadline = min(since + SERVER_START_S, time.time() + WAIT_FOR_SERVER_S)
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(path)
            return conn
        except OSError:
            conn.close()
            if time.time() >= deadline:
                return None
            time.sleep(0.02)


def _receive(conn: socket.socket, shape: struct.Struct) -> int | None:
    data = b""
    while len(data) < shape.size:
        try:
            chunk = conn.recv(shape.size - len(data))
        except InterruptedError:
            continue
        if not chunk:
            return None
        data += chunk
    return shape.unpack(data)[0]


def serve(path: str, owner_pid: int, preload: tuple[str, ...] = PRELOAD) -> None:
    """Import ``preload``, then fork a child for every job that connects to ``path``, until
    process ``owner_pid`` (the Snakemake run) has ended."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    for module in preload:
        with contextlib.suppress(Exception):  # an optional module: the job imports it itself
            importlib.import_module(module)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.{os.getpid()}"
    listener.bind(staging)
    listener.listen(16)
    os.rename(staging, path)  # appears ready to take jobs
    inode = os.stat(path).st_ino
    listener.settimeout(0.2)
    born = _start_time(owner_pid)
    try:
        while _alive(owner_pid, born) and os.path.exists(path):
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            if os.fork() == 0:
                listener.close()
                _run_child(conn)  # never returns
            conn.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == inode:  # not a newer server's
                os.unlink(path)
        listener.close()


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/``pid``/stat after the command name (Linux): [0] is the state,
    [19] the start time."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields if len(fields) > 19 else None


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (Linux: /proc), to tell it from a later one of that pid."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _alive(pid: int, born: str | None) -> bool:
    """Whether the owner still runs: a zombie (ended, not yet reaped by a parent that may be
    waiting for this server's exit first) counts as ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _stat(pid)
    if fields and fields[0] in ("Z", "X"):
        return False
    return born is None or (fields is not None and fields[19] == born)


def _run_child(conn: socket.socket) -> None:
    """In the forked child: take the job's streams, directory and environment, run its
    script as ``__main__``, send its exit status, exit."""
    import atexit
    import runpy
    import threading
    import traceback

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        job = _take_job(conn)
    except Exception:  # noqa: BLE001 -- the job's process runs the job itself
        os._exit(1)

    def watch() -> None:  # the job's process killed: end the job and its workers too
        with contextlib.suppress(OSError):
            while conn.recv(1):
                pass
        os.killpg(0, signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
    try:
        runpy.run_path(job["script"], run_name="__main__")
        status = 0
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, int) and stop.code is not None:
            print(stop.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 -- reported as Python would, then the status
        traceback.print_exc()
        status = 1
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(OSError):
        conn.sendall(_STATUS.pack(status))
    os._exit(status)


def _take_job(conn: socket.socket) -> dict:
    """Read the job (its streams come as file descriptors) and become its process: streams,
    directory, environment, arguments, fresh random states, thread limits, a process group
    of its own (a signal reaches the job's workers too); then send its pid."""
    message, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    size = _HEADER.unpack(message)[0] if len(message) == _HEADER.size else 0
    request = b""
    while len(request) < size:
        chunk = conn.recv(size - len(request))
        if not chunk:
            raise ConnectionError("the job's process went away")
        request += chunk
    job = json.loads(request)
    if job.get("executable") != sys.executable:  # another Python (a conda environment)
        raise RuntimeError("another Python")
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    sys.argv = list(job["argv"])
    _reseed()
    _limit_threads()
    os.setpgid(0, 0)
    conn.sendall(_STATUS.pack(os.getpid()))
    return job


_LIMITS: list = []


def _limit_threads() -> None:
    """The BLAS/OpenMP thread counts Snakemake sets for the job (``threads:``), which a cold
    process reads when it loads those libraries and the warm one loaded before."""
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit() and int(threads) > 0:
        from threadpoolctl import threadpool_limits

        _LIMITS.append(threadpool_limits(limits=int(threads)))


def _reseed() -> None:
    """Fresh random states, as a new process has (the jobs seed what must be reproducible)."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
