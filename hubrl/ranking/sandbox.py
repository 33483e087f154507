"""One verification in a bounded child process: what the local Hub runs on every pushed claim.

:func:`verify_folder` copies nothing and trusts nothing: it starts ``python -I`` (no user site, no environment
variables read, no current folder on the path) with a scrubbed environment (no token, no endpoint, ``HOME`` and the
caches in a fresh temporary folder), in a session of its own. The child lowers its own limits first (address space,
CPU time, file size, no core files), then loads the repo's files from ``folder`` exactly as
:func:`hubrl.loading.load_from_hub` loads a download (bounded JSON, the weights' header checked against the config,
a course model.pt in its own bounded reader) and measures it with :func:`hubrl.ranking.verification.verified`: the
standard game of the env id, the seeded protocol, the course cap, only a validated observation spec from the repo.
It writes its :class:`~hubrl.ranking.claims.Verification` as JSON; the parent kills the whole session at the wall
limit and turns any death into a verification with ``error`` set. Nothing here raises for a bad agent.

The parent side loads neither gymnasium nor torch (the local Hub runs it); the child imports what playing needs only
once its limits are set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hubrl.course.reader import _apply_limits as apply_limits  # the course reader's: same names, same rules
from hubrl.defaults import EVAL_TIME_LIMIT, VERIFY_MEMORY_BYTES
from hubrl.ranking.claims import HUB, Verification

RESULT = "verification.json"
MAX_RESULT_BYTES = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    """What one verification may use (``memory_bytes``: the child's address space, see
    :data:`hubrl.defaults.VERIFY_MEMORY_BYTES`)."""

    memory_bytes: int = VERIFY_MEMORY_BYTES
    cpu_seconds: int = int(EVAL_TIME_LIMIT)
    wall_seconds: float = EVAL_TIME_LIMIT
    max_output_bytes: int = 256 << 20
    """Largest file the child may write (a course model converted to safetensors, the result)."""

    def __post_init__(self) -> None:
        if self.memory_bytes < 256 << 20:
            raise ValueError("memory_bytes must be at least 256 MiB (Python, numpy and gymnasium need about that)")
        for name in ("cpu_seconds", "wall_seconds", "max_output_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


def verify_folder(
    folder: str | Path,
    *,
    repo_id: str,
    env_id: str,
    claimed_mean: float | None = None,
    claimed_std: float | None = None,
    commit: str | None = None,
    limits: SandboxLimits | None = None,
    stop: threading.Event | None = None,
) -> Verification:
    """Verify the repo files in ``folder`` in a bounded child (see the module docstring); never raises for a bad agent.

    Args:
        folder: the repo's files (config.json + model.safetensors, or model.pt, and its metadata), a copy the child
            may read (it never writes there).
        repo_id, env_id, claimed_mean, claimed_std: what the repo claims (``env_id`` is the game played).
        commit: the commit the files come from (recorded in the verification).
        limits: the child's limits (default :class:`SandboxLimits`).
        stop: when set (by another thread), the child is killed and the verification ends with ``error`` set.

    Returns:
        The :class:`~hubrl.ranking.claims.Verification`, ``checked_by`` ``"the Hub"``; ``error`` set when the agent
        could not be loaded or played within the limits.

    Example:
        >>> v = verify_folder("/tmp/copy", repo_id="alice/x", env_id="CartPole-v1", claimed_mean=500, claimed_std=0)
        >>> v.verdict
        'consistent'
    """
    limits = limits or SandboxLimits()
    base = Verification(repo_id=repo_id, env_id=env_id, claimed_mean=claimed_mean, claimed_std=claimed_std,
                        commit=commit, checked_by=HUB)
    request = {"verification": base.to_json(), "limits": asdict(limits)}
    with tempfile.TemporaryDirectory(prefix="hubrl-sandbox-") as tmp:
        work = Path(tmp)
        (work / "request.json").write_text(json.dumps(request))
        root = str(Path(__file__).resolve().parents[2])  # the hubrl the server runs, whatever sys.path says
        code = f"import sys; sys.path.insert(0, {root!r}); from hubrl.ranking.sandbox import main; sys.exit(main())"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": tmp, "TMPDIR": tmp,
               "HUBRL_CACHE": str(work / "cache"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "MPLBACKEND": "Agg"}
        start = time.monotonic()
        with open(work / "log.txt", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-I", "-c", code, str(Path(folder).resolve()), tmp],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=tmp,
                                    start_new_session=True)
            deadline = start + limits.wall_seconds + 5  # the child stops itself at wall_seconds; 5 s to say so
            stop = stop or threading.Event()
            try:
                while proc.poll() is None:
                    if time.monotonic() > deadline:
                        base.error = f"the verification took more than {limits.wall_seconds:g} s (wall clock)"
                        return base
                    if stop.wait(0.05):
                        base.error = "the verification was stopped"
                        return base
            finally:
                _kill_session(proc)  # grandchildren (a course reader) never outlive the verification
        result = work / RESULT
        if proc.returncode != 0 or not result.is_file() or result.stat().st_size > MAX_RESULT_BYTES:
            base.error = _death(proc.returncode, limits, time.monotonic() - start)
            return base
        try:
            out = Verification.from_json(json.loads(result.read_text(encoding="utf-8")))
        except ValueError:
            base.error = "the verification's answer is malformed"
            return base
    out.commit, out.checked_by = commit, HUB
    return out


def _kill_session(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _death(returncode: int, limits: SandboxLimits, seconds: float) -> str:
    """Why the child ended without an answer, in words."""
    memory = f"{limits.memory_bytes >> 20} MiB"
    if returncode < 0:
        sig = -returncode
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and seconds >= limits.cpu_seconds):
            return f"the verification used more than {limits.cpu_seconds} s of CPU time"
        if sig == signal.SIGXFSZ:
            return "the verification wrote more than its output limit"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return f"the verification was killed by {name} (e.g. more than {memory} of memory)"
    return f"the verification failed (exit status {returncode}, e.g. out of its {memory} of memory)"


# -- the child ------------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """``FOLDER WORKDIR``: read WORKDIR/request.json, verify FOLDER, write WORKDIR/verification.json, exit 0."""
    started = time.monotonic()
    folder, work = (argv if argv is not None else sys.argv[1:])[:2]
    request = json.loads((Path(work) / "request.json").read_text())
    limits = SandboxLimits(**request["limits"])
    apply_limits(limits)
    result = Verification.from_json(request["verification"])
    try:
        result = _verify(Path(folder), result, limits.wall_seconds - (time.monotonic() - started))
    except MemoryError:
        result.error = f"the agent needs more than {limits.memory_bytes >> 20} MiB of memory"
    except RecursionError:
        result.error = "the agent's files nest too deeply"
    (Path(work) / RESULT).write_text(json.dumps(result.to_json()))
    return 0


def _verify(folder: Path, result: Verification, time_limit: float) -> Verification:
    from hubrl.loading import load_repo_folder
    from hubrl.ranking.verification import single_threaded, verified

    single_threaded()
    return verified(lambda: load_repo_folder(folder, source=result.repo_id), result, time_limit=max(1.0, time_limit))
