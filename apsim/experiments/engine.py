"""Running batches of runs on Dask distributed: an embedded LocalCluster or an existing scheduler.

:class:`Engine` owns the cluster connection for one ``apsim sweep``: by default a
``LocalCluster`` of worker processes (one thread each; a simulation holds the GIL)
that it starts and stops itself, or, with ``scheduler``, a connection to a running
cluster (``dask scheduler`` / ``dask worker`` by hand, dask-jobqueue, Kubernetes)
that it leaves running. Dask resubmits the tasks of a worker that dies (up to the
scheduler's ``allowed-failures``); a batch that still cannot finish is recorded as
failed runs. Distribution, retries and worker bookkeeping are Dask's; this module
only cuts runs into batches and reports progress.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from apsim.errors import ApsimError
from apsim.experiments.worker import RunSpec, run_batch, warm

__all__ = ["Engine", "batches", "default_workers"]

CONNECT_TIMEOUT = "10s"
"""How long to try reaching an existing scheduler before giving up with an error."""

RETRIES = 2
"""Times Dask re-runs a batch whose task raised (a run's own error is caught inside it)."""


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def batches(runs: list[RunSpec], workers: int, size: int | None = None) -> list[list[RunSpec]]:
    """Cut *runs* (in order) into batches: about eight per worker, so short runs share a
    task's overhead while the last ones still spread over every worker."""
    if not runs:
        return []
    n = size or max(1, math.ceil(len(runs) / (max(1, workers) * 8)))
    return [runs[i:i + n] for i in range(0, len(runs), n)]


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while the local workers start: they inherit it across exec, so a
    Ctrl-C on the terminal reaches only this process, which then stops them in order
    (instead of every worker dying with a traceback)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Engine:
    """A Dask client for one sweep; use as a context manager."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None,
                 client: Any = None, batch_size: int | None = None) -> None:
        self._workers = workers
        self._scheduler = scheduler
        self._client = client
        self._own: list[Any] = []
        self.batch_size = batch_size
        self.engine = ""

    def __enter__(self) -> Engine:
        try:
            from distributed import Client, LocalCluster
        except ModuleNotFoundError:
            raise ApsimError("apsim sweep needs Dask distributed: pip install 'apsim[sweep]'") from None
        if self._client is None:
            if self._scheduler is not None:
                try:
                    self._client = Client(self._scheduler, timeout=CONNECT_TIMEOUT)
                except (OSError, TimeoutError) as e:
                    raise ApsimError(f"cannot reach the Dask scheduler at {self._scheduler}: {e}") from None
            else:
                # Worker processes log only critical errors: a run's own failure is
                # recorded in runs.csv, and the heartbeat errors a loaded machine shows
                # while the cluster shuts down are no concern of the user's.
                with _sigint_ignored():
                    cluster = LocalCluster(n_workers=self._workers or default_workers(), threads_per_worker=1,
                                           processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL)
                self._own.append(cluster)
                self._client = Client(cluster)
            self._own.insert(0, self._client)
        try:
            kinds = set(self._client.run(warm).values())  # every worker imports apsim once, now
        except Exception as e:  # noqa: BLE001 - e.g. a worker without apsim installed
            self.__exit__()
            raise ApsimError(f"the Dask workers cannot load apsim's simulation ({type(e).__name__}: {e}); "
                             f"install apsim where the workers run") from None
        if not kinds:
            raise ApsimError("the Dask cluster has no workers")
        self.engine = "/".join(sorted(kinds))
        return self

    def __exit__(self, *_exc: object) -> None:
        for thing in self._own:
            try:
                thing.close()
            except Exception:  # noqa: BLE001 - shutting down; nothing left to report to
                pass
        self._own.clear()

    @property
    def workers(self) -> int:
        """The number of workers the cluster has now."""
        return max(1, len(self._client.scheduler_info().get("workers", {})))

    def run(self, runs: list[RunSpec], on_rows: Callable[[list[dict[str, Any]]], None],
            progress: Any = None) -> None:
        """Run *runs* in batches; *on_rows* gets each finished batch's rows.

        On KeyboardInterrupt the batches not finished are cancelled and the interrupt
        is raised again (rows already handed to *on_rows* stay).
        """
        from distributed import as_completed

        pending = {}
        for batch in batches(runs, self.workers, self.batch_size):
            fut = self._client.submit(run_batch, batch, pure=False, retries=RETRIES)
            pending[fut] = batch
        try:
            for fut in as_completed(list(pending)):
                batch = pending.pop(fut)
                try:
                    rows = fut.result()
                except Exception as e:  # noqa: BLE001 - e.g. KilledWorker after repeated worker loss
                    rows = [{"point": r.point, "replication": r.replication, "seed": r.seed,
                             "status": f"error: batch lost: {type(e).__name__}: {e}".replace("\n", " "),
                             "wall_s": 0.0, "metrics": {}} for r in batch]
                on_rows(rows)
                if progress is not None:
                    progress.advance(len(rows), sum(1 for r in rows if r["status"] != "ok"))
        except KeyboardInterrupt:
            self._client.cancel(list(pending), force=True)
            raise
