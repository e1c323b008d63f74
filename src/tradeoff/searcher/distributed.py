"""Workers as Ray tasks on an existing Ray cluster, all sharing one study storage.

Ray schedules the processes; the study's storage (PostgreSQL on a real cluster, SQLite
when every node shares one file system) keeps the trials. Nothing here is a scheduler
of our own.
"""

from __future__ import annotations

from tradeoff.errors import TradeoffError


def run_on_ray(
    address: str,
    storage: str,
    study_name: str,
    *,
    workers: int,
    time_budget_s: float | None,
    stop_at: int | None,
    artifacts: str,
    on_poll=None,
) -> list[int]:
    """Start ``workers`` tradeoff workers as Ray tasks and wait for them; returns their trial counts.

    ``on_poll`` is called every few seconds while they run (e.g. to refresh a progress bar).
    """
    try:
        import ray
    except ImportError:
        raise TradeoffError(
            "--ray-address: Ray is not installed (pip install 'tradeoff[ray]')"
        ) from None
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR")
    except Exception as error:  # ConnectionError and Ray's own errors
        raise TradeoffError(
            f"--ray-address: cannot join the Ray cluster at {address}: {error}"
        ) from None
    try:
        task = ray.remote(num_cpus=1)(_worker_task)
        share = max(1, workers)
        refs = [
            task.remote(storage, study_name, time_budget_s, stop_at, artifacts, share)
            for _ in range(workers)
        ]
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, timeout=2.0)
            if on_poll is not None:
                on_poll()
        return ray.get(refs)
    finally:
        ray.shutdown()


def _worker_task(storage, study_name, time_budget_s, stop_at, artifacts, workers_on_host) -> int:
    from tradeoff.searcher.optimize import run_worker  # in the Ray worker: loads PyTorch there

    study = run_worker(
        storage,
        study_name,
        time_budget_s=time_budget_s,
        stop_at=stop_at,
        artifacts=artifacts,
        workers_on_host=workers_on_host,
    )
    return len(study.trials)
