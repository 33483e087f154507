"""Training curves as TensorBoard traces: the one definition of what a run's curves are, and their writer.

:data:`SCALARS` names each curve and says how it is read from a history row (one row per update, see
:meth:`hubrl.training.Trainer.record`); every curve is plotted against env steps. Three things draw from it, so they
show the same curves: the traces in a run folder (:data:`TRACES`, written from ``history.json`` when the folder is
written), the live traces of ``hubrl train --tensorboard DIR`` (written row by row as training runs) and the local
Hub's model page (drawn from ``history.json`` by :func:`curves`).

The writer is tensorboardX (numpy and protobuf only; no TensorFlow, and unlike ``torch.utils.tensorboard`` it needs
no ``tensorboard`` package: 0.7 MB installed and ~50 ms to import, against ~60 MB and ~450 ms). It is imported only
when traces are written: this module is pure (the local Hub imports it to draw the page's curves).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

TRACES_DIR = "tensorboard"
"""The run folder's traces folder (``tensorboard --logdir RUN_FOLDER`` finds it)."""
TRACES = f"{TRACES_DIR}/events.out.tfevents.hubrl"
"""The run folder's one trace file. Its name has no host name (the writer's default would put the machine's name in
a file that is published), and the Hub starts its TensorBoard tab for any file whose name holds ``tfevents``."""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _steps_per_second(row: Mapping[str, Any]) -> float | None:
    steps, wall = _finite(row.get("env_steps")), _finite(row.get("wall_s"))
    return steps / wall if steps is not None and wall else None


SCALARS: dict[str, tuple[str, Callable[[Mapping[str, Any]], float | None]]] = {
    "charts/mean_return": ("mean training return per update", lambda row: _finite(row.get("mean_return"))),
    "charts/val_score": ("validation score (mean - std)", lambda row: _finite(row.get("val_score"))),
    "losses/loss": ("policy loss", lambda row: _finite(row.get("loss"))),
    "losses/entropy": ("policy entropy", lambda row: _finite(row.get("entropy"))),
    "charts/learning_rate": ("learning rate", lambda row: _finite(row.get("lr"))),
    "charts/SPS": ("env steps per second (since the start)", _steps_per_second),
}
"""Tag -> (title, value of a history row, None where the row has none), in display order. Tags follow CleanRL's
(``charts/...``, ``losses/...``); the x axis is always ``env_steps``. A row without an update (validation reached the
target first) has no loss, entropy or learning rate; rows without validation have no validation score."""


def row_scalars(row: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The (tag, value) pairs of one history row, in :data:`SCALARS` order, skipping what the row lacks."""
    out = []
    for tag, (_, read) in SCALARS.items():
        value = read(row)
        if value is not None:
            out.append((tag, value))
    return out


def curves(history: Iterable[Any]) -> dict[str, list[tuple[int, float]]]:
    """Every curve of a history as (env steps, value) points, by tag in :data:`SCALARS` order; rows that are not
    objects with an integer ``env_steps`` are skipped (the page reads someone else's history.json).

    Example:
        >>> curves([{"env_steps": 500, "wall_s": 1.0, "mean_return": 22.0}])["charts/mean_return"]
        [(500, 22.0)]
    """
    out: dict[str, list[tuple[int, float]]] = {tag: [] for tag in SCALARS}
    for row in history:
        if not isinstance(row, Mapping):
            continue
        step = row.get("env_steps")
        if isinstance(step, bool) or not isinstance(step, int):
            continue
        for tag, value in row_scalars(row):
            out[tag].append((step, value))
    return out


class TraceWriter:
    """TensorBoard traces of one run in ``logdir``: one event per curve and history row, at ``env_steps``.

    ``TraceWriter(logdir)(row, policy)`` is a :func:`hubrl.training.train` callback, so ``hubrl train --tensorboard``
    writes each update as it is recorded (the callback's time is not training time). Close it to flush.
    """

    def __init__(self, logdir: str | os.PathLike, *, flush_secs: int = 10):
        from tensorboardX import SummaryWriter

        self.logdir = Path(logdir)
        self._writer = SummaryWriter(logdir=str(self.logdir), flush_secs=flush_secs)

    def add_row(self, row: Mapping[str, Any], *, walltime: float | None = None) -> None:
        step = int(row["env_steps"])
        for tag, value in row_scalars(row):
            self._writer.add_scalar(tag, value, global_step=step, walltime=walltime)

    def __call__(self, row: Mapping[str, Any], policy: Any = None) -> None:
        self.add_row(row)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def write_traces(history: list[Mapping[str, Any]], run_dir: str | os.PathLike) -> Path:
    """Write ``history``'s curves to ``run_dir/``:data:`TRACES` (replacing it); returns the file's path.

    Each event's wall time is the row's training time after a common start, so TensorBoard's "relative" axis shows
    training time. The writer's own file name is replaced by :data:`TRACES`.
    """
    target = Path(run_dir) / TRACES
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".traces-", dir=target.parent) as tmp:
        last = _finite(history[-1].get("wall_s")) if history else None
        start = time.time() - (last or 0.0)
        with TraceWriter(tmp) as writer:
            for row in history:
                writer.add_row(row, walltime=start + (_finite(row.get("wall_s")) or 0.0))
        (written,) = [p for p in Path(tmp).iterdir() if "tfevents" in p.name]
        os.chmod(written, 0o644)
        os.replace(written, target)
    return target

