"""``python -m snakemake`` with the SLURM executor checking its jobs every 2 s (tests only).

The SLURM plugin lengthens the wait between status checks by 10 s at every check that finds
no job finished (checks at 2, 14, 36, 68, 110 s ... after a submission), so a job that ends
after a minute is noticed up to 40 s late. The tests run short jobs on a local one-node
cluster, where an ``squeue`` every 2 s costs nothing. Everything else is the documented
``snakemake --profile profiles/slurm`` run.
"""

from __future__ import annotations

import snakemake_executor_plugin_slurm as slurm

POLL_S = 2
_check_active_jobs = slurm.Executor.check_active_jobs


async def _check_steadily(self, active_jobs):
    async for job in _check_active_jobs(self, active_jobs):
        yield job
    self.next_seconds_between_status_checks = POLL_S


slurm.Executor.check_active_jobs = _check_steadily

if __name__ == "__main__":
    from snakemake.cli import main

    main()
