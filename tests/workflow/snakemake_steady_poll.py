"""``python -m snakemake`` with the SLURM executor checking its jobs every 2 s (tests only).

The SLURM plugin lengthens the wait between status checks by 10 s at every check that finds
no job finished (checks at 2, 14, 36, 68, 110 s ... after a submission), so a job that ends
after a minute is noticed up to 40 s late. The tests run short jobs on a local one-node
cluster, where an ``squeue`` every 2 s costs nothing. Everything else is the documented
``snakemake --profile profiles/slurm`` run.
"""

from __future__ import annotations

POLL_S = 2


def _patch_status_checks() -> None:
    """Reset the plugin's wait to POLL_S after each status check (a plugin without the
    method this wraps is left as it is: the runs are then only slower)."""
    try:
        import snakemake_executor_plugin_slurm as slurm

        check_active_jobs = slurm.Executor.check_active_jobs
    except (ImportError, AttributeError):
        return

    async def check_steadily(self, active_jobs):
        async for job in check_active_jobs(self, active_jobs):
            yield job
        self.next_seconds_between_status_checks = POLL_S

    slurm.Executor.check_active_jobs = check_steadily


if __name__ == "__main__":
    from snakemake.cli import main

    _patch_status_checks()
    main()
