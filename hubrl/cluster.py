"""Running many independent jobs (sweep trials, agent verifications) in parallel: local processes or a Ray cluster.

:func:`run_tasks` calls one picklable, module-level function per payload and yields each outcome as soon as it
finishes, so callers can save results as they come. Locally the jobs run in ``spawn`` worker processes; with an
``address`` they run as bare Ray tasks (``pip install 'hubrl[ray]'``; hubrl must be installed on every node). A
Ray task whose worker process or node dies is retried on another node (``max_retries``); an exception raised by the
function itself is *not* retried (Ray's ``retry_exceptions=False``): hubrl jobs are deterministic, so the same
inputs would raise again. Ray is imported only here and only when a cluster is asked for.

Why bare tasks and not Ray Tune: a hubrl trial is short, seeded and deterministic, and reports one final score.
Tune's early-stopping schedulers (ASHA, HyperBand) need intermediate results reported while a trial trains and
would stop trials at different points on different runs, so a sweep would no longer be reproducible or comparable
with the local process-pool path; its search algorithms would replace hubrl's grid/random plans. Bare tasks keep
one code path for both engines and give exactly the local results.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import socket
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from hubrl.errors import ClusterError, first_line

DEFAULT_MAX_RETRIES = 3
"""How many times a Ray task is re-run after its worker process or node died (Ray's own default)."""
_POLL_S = 1.0


@dataclass
class TaskOutcome:
    """What came back from one job: its position in the payload list, and its value or why there is none."""

    index: int
    value: Any = None
    error: str | None = None
    """The job never finished: its worker died (locally) or was lost more often than the retries allow (Ray)."""
    node: str | None = None
    """The Ray node id that ran it (None for local processes)."""

    @property
    def ok(self) -> bool:
        return self.error is None


class TaskProgress:
    """A ``tqdm.auto`` bar over jobs with ``done, running, failed`` counts (does nothing when disabled).

    ``running`` is the number of jobs holding a slot: min(jobs not finished, parallel slots); on Ray the slots are
    the cluster's CPUs now, so a lost node shows as fewer running jobs.
    """

    def __init__(self, total: int, *, desc: str, enabled: bool = True, initial: int = 0):
        self.total, self.done, self.failed, self.running = total, initial, 0, 0
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="job", dynamic_ncols=True)
            self._refresh()

    def finished(self, *, failed: bool) -> None:
        self.done += 1
        self.failed += failed
        if self.bar is not None:
            self._refresh(now=False)
            self.bar.update(1)

    def set_running(self, running: int) -> None:
        if running != self.running:
            self.running = running
            self._refresh()

    def _refresh(self, now: bool = True) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"done {self.done - self.failed}, running {self.running}, failed {self.failed}",
                                     refresh=now)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_tasks(
    fn: Callable[[Any], Any],
    payloads: Sequence[Any],
    *,
    address: str | None = None,
    workers: int | None = None,
    names: Sequence[str] | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    progress: TaskProgress | None = None,
) -> Iterator[TaskOutcome]:
    """Run ``fn(payload)`` for every payload in parallel; yield outcomes in the order the jobs finish.

    Args:
        fn: a module-level function (pickled by reference: workers import its module).
        payloads: plain-data arguments, one job each.
        address: a Ray cluster (``HOST:PORT`` of its head, ``auto``, or ``ray://HOST:10001``); None: local processes.
        workers: local processes (default: one per CPU core, at most one per job); ignored on Ray, where each job
            takes one CPU and the cluster's size sets the parallelism.
        names: one name per job, shown by Ray (``ray list tasks``, process titles ``ray::NAME``).
        max_retries: Ray only: re-runs after a lost worker or node; an exception raised by ``fn`` is never retried.
        progress: a :class:`TaskProgress` to update.

    Raises:
        ClusterError: Ray is not installed or the cluster cannot be reached.

    Example:
        >>> for outcome in run_tasks(math.sqrt, [1, 4, 9], workers=2):
        ...     print(outcome.index, outcome.value)
    """
    if not payloads:
        return
    if address:
        yield from _run_on_ray(fn, payloads, address=address, names=names, max_retries=max_retries,
                               progress=progress)
    else:
        yield from _run_locally(fn, payloads, workers=workers, progress=progress)


def _run_locally(fn, payloads, *, workers, progress) -> Iterator[TaskOutcome]:
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(payloads)))
    context = multiprocessing.get_context("spawn")
    remaining = len(payloads)
    with concurrent.futures.ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
        futures = {pool.submit(fn, payload): i for i, payload in enumerate(payloads)}
        if progress:
            progress.set_running(min(n_workers, remaining))
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            try:
                outcome = TaskOutcome(index, value=future.result())
            except Exception as err:  # the worker process itself died (killed, out of memory)
                outcome = TaskOutcome(index, error=f"its worker process died ({first_line(err)})")
            remaining -= 1
            if progress:
                progress.set_running(min(n_workers, remaining))
            yield outcome


@contextlib.contextmanager
def connect(address: str):
    """Connect this process to the Ray cluster at ``address`` for the duration of the block; yield the ray module.

    A connection made here is closed on exit; one the caller made already (``ray.init`` earlier) is reused and kept.

    Raises:
        ClusterError: Ray is not installed here, or nothing answers at ``address``.
    """
    try:
        import ray
    except ImportError:
        raise ClusterError("--ray needs Ray on this machine and on every node: pip install 'hubrl[ray]'") from None
    if ray.is_initialized():
        yield ray
        return
    _check_reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, logging_level="ERROR", configure_logging=True)
    except Exception as err:  # ConnectionError, ValueError for a malformed address, timeouts
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r} ({first_line(err)}); start one with "
                           "`ray start --head` and pass the HEAD:PORT it prints") from err
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at HOST:PORT (``ray.init`` keeps retrying for minutes)."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and the like: Ray resolves those itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as err:
        raise ClusterError(f"nothing answers at {address} ({err.strerror or err}); start the cluster's head with "
                           f"`ray start --head --port {port}` and pass the HEAD:PORT it prints") from err


def _node_and_value(fn, payload):
    """Runs on a Ray worker: the job, and the id of the node that ran it."""
    import ray

    return ray.get_runtime_context().get_node_id(), fn(payload)


def _run_on_ray(fn, payloads, *, address, names, max_retries, progress) -> Iterator[TaskOutcome]:
    with connect(address) as ray:
        remote = ray.remote(_node_and_value)
        refs = {}
        for i, payload in enumerate(payloads):
            options = {"name": names[i]} if names else {}
            task = remote.options(num_cpus=1, max_retries=max_retries, retry_exceptions=False, **options)
            refs[task.remote(fn, payload)] = i
        pending = list(refs)
        try:
            while pending:
                if progress:
                    slots = int(ray.cluster_resources().get("CPU", 0))
                    progress.set_running(min(len(pending), slots))
                done, pending = ray.wait(pending, num_returns=1, timeout=_POLL_S)
                for ref in done:
                    yield _ray_outcome(ray, ref, refs[ref], max_retries)
        finally:
            for ref in pending:  # stopped early (Ctrl-C, the caller gave up): free the cluster
                ray.cancel(ref, force=True)


def _ray_outcome(ray, ref, index: int, max_retries: int) -> TaskOutcome:
    try:
        node, value = ray.get(ref)
    except ray.exceptions.RayTaskError as err:  # fn raised: reported, never retried
        cause = err.cause if isinstance(getattr(err, "cause", None), BaseException) else err
        return TaskOutcome(index, error=f"{type(cause).__name__}: {first_line(cause)}")
    except ray.exceptions.RayError as err:  # worker or node lost, more often than the retries allow
        return TaskOutcome(index, error=f"lost its Ray worker {max_retries + 1} time(s) "
                                        f"({type(err).__name__}: {first_line(err)})")
    return TaskOutcome(index, value=value, node=node)


__all__ = ["DEFAULT_MAX_RETRIES", "TaskOutcome", "TaskProgress", "connect", "run_tasks"]
