"""MPI across processes (mpi4py): particles split over ranks, sums reduced every iteration.

Without mpi4py, or when not started by an MPI launcher, everything runs in one process. The
E-step of a batch depends only on the batch's particles and the model, batches are dealt to
ranks round-robin, and all ranks run the same M-step on the same reduced sums, so 1 and N
ranks give the same results up to the order of floating-point additions.
"""

from __future__ import annotations

import logging
import os

import numpy as np

__all__ = ["Reducer", "get_reducer"]

logger = logging.getLogger(__name__)

_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class Reducer:
    """Rank, size and an all-reduce (sum) of dicts of host arrays."""

    def __init__(self, comm=None) -> None:
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def sum(self, arrays: dict[str, object]) -> dict[str, object]:
        """Element-wise sum over ranks of every array (float64/complex128); scalars too."""
        if self.size == 1:
            return arrays
        from mpi4py import MPI

        out = {}
        for key, value in arrays.items():
            data = np.asarray(value)
            dtype = np.complex128 if np.iscomplexobj(data) else np.float64
            buffer = np.ascontiguousarray(data, dtype=dtype).copy()
            self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            out[key] = buffer if data.ndim else buffer.item()
        return out

    def mine(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """The batches this rank processes (round-robin)."""
        return batches[self.rank::self.size]

    def barrier(self) -> None:
        if self.comm is not None:
            self.comm.Barrier()


def get_reducer() -> Reducer:
    """An MPI reducer when started by an MPI launcher and mpi4py is importable, else 1 rank."""
    if not any(v in os.environ for v in _LAUNCHER_VARIABLES):
        return Reducer()
    try:
        from mpi4py import MPI
    except ImportError:
        logger.warning("started by an MPI launcher but mpi4py is not installed: every rank "
                       "would run the whole job; install mpi4py (pip install mpi4py)")
        return Reducer()
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1 and comm.Get_rank() == 0:
        logger.info("MPI: %d ranks", comm.Get_size())
    return Reducer(comm)
