"""Scores the server checked: the local Hub re-evaluates every claimed score itself, and keeps the verdicts apart.

When a commit lands on a repo whose card claims a score on an env (:func:`claims_score`), the commit is
queued (:meth:`Verifier.submit`). One worker thread takes the queue in turns between namespaces, so one student's
many pushes delay a classmate's by one verification at most; a repo's newer push replaces its older one in the
queue, and a commit that is no longer a branch head when its turn comes is skipped. For each job the worker copies
the files the loader reads from the Hub's own storage into a temporary folder, each only once its size is known to
be one hubrl reads (:func:`hubrl.loading.fetch_agent_files`: no network, no endpoint), and verifies the copy in one
bounded child process (:func:`hubrl.ranking.sandbox.verify_folder`: CPU, address-space and wall limits, no token in
its environment, the standard game of the env id with hubrl's seeded protocol and the course cap, only a validated
observation spec from the repo). One child at a time: a class Hub's CPUs stay with the people using it.

The verdict, a :class:`~hubrl.ranking.claims.Verification` with ``checked_by == "the Hub"``, is stored by
:class:`VerificationStore` under the data folder (``verifications/<namespace>/<name>/<commit>.json``, written
atomically), never in the repo, so nothing a repo holds can forge it. At start every branch head that claims a
score and has no verdict yet is queued again (a restart loses no check; an interrupted one runs again).

:func:`verification_for` is the one way to read a verdict: the pages attach it to the claims they show, the model
info and listing JSON carry it as ``hubrlVerification`` (the real huggingface_hub client keeps unknown keys as
attributes: ``HfApi().model_info(repo_id).hubrlVerification``), which is what ``hubrl leaderboard`` reads. A Hub
``verified`` flag (an EvalResult's, a dataset leaderboard entry's) is ``verdict == "consistent"`` of it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cachetools

from hubrl.errors import HubrlError
from hubrl.ranking.claims import HUB, Claim, Verification
from hubrl.ranking.sandbox import SandboxLimits
from hubrl.server.claims import Repos, commit_claim
from hubrl.server.errors import HubServerError
from hubrl.server.naming import COMMIT_ID_RE, check_repo_id
from hubrl.server.storage import Commit, atomic_write

logger = logging.getLogger("hubrl.server")

MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True)
class VerifierOptions:
    """Whether the Hub checks claimed scores itself, and the limits of each check's child process."""

    enabled: bool = True
    limits: SandboxLimits = field(default_factory=SandboxLimits)


def claims_score(claim: Claim) -> bool:
    """Does the claim name a score (a parsed metric) on an env? Only those are verified. Whether this machine can
    play the env is the child's to find out (gymnasium is not imported here): it answers "unverifiable" then, a
    verdict that is not stored, so the claim is checked again at the next start (after an install, say)."""
    return claim.mean is not None and bool(claim.env_id)


class VerificationStore:
    """The Hub's verdicts by (repo, commit), one JSON file each under ``<data>/verifications``, written atomically.

    A verdict never changes once written (a commit is immutable), so found ones are kept in memory.
    """

    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir) / "verifications"
        self.root.mkdir(parents=True, exist_ok=True)
        self._found: cachetools.LRUCache = cachetools.LRUCache(8192)
        self._lock = threading.Lock()

    def path(self, repo_id: str, commit_id: str) -> Path:
        namespace, name = check_repo_id(repo_id)
        if not isinstance(commit_id, str) or not COMMIT_ID_RE.fullmatch(commit_id):
            raise ValueError(f"not a commit id: {commit_id!r:.60}")
        return self.root / namespace / name / f"{commit_id}.json"

    def get(self, repo_id: str, commit_id: str) -> Verification | None:
        """The Hub's verdict on ``repo_id`` at ``commit_id``; None when there is none (yet)."""
        key = (repo_id, commit_id)
        with self._lock:
            found = self._found.get(key)
        if found is not None:
            return found
        try:
            path = self.path(repo_id, commit_id)
            if path.stat().st_size > MAX_RECORD_BYTES:
                return None
            found = Verification.from_json(json.loads(path.read_bytes()))
        except (OSError, ValueError):  # absent (the usual case), or damaged: unverified
            return None
        found.checked_by = HUB
        with self._lock:
            self._found[key] = found
        return found

    def put(self, verification: Verification) -> None:
        """Store a verdict (its ``repo_id`` and ``commit`` say where)."""
        path = self.path(verification.repo_id, verification.commit or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(verification.to_json(), allow_nan=False).encode())

    def tidy(self, repo_ids: set[str]) -> None:
        """Drop the verdicts of repositories that no longer exist and temporary files a killed server left."""
        for namespace in list(self.root.iterdir()):
            for repo in list(namespace.iterdir()) if namespace.is_dir() else []:
                if f"{namespace.name}/{repo.name}" not in repo_ids:
                    shutil.rmtree(repo, ignore_errors=True)
                    continue
                for leftover in repo.glob(".tmp-*"):
                    leftover.unlink(missing_ok=True)


class CheckedRepos(Repos, Protocol):
    """What the verifier needs of the server: its repositories and its verdicts (a ServerState)."""

    verifications: VerificationStore


def verification_for(state: CheckedRepos, repo_id: str, commit_id: str) -> Verification | None:
    """The Hub's own verdict on ``repo_id`` at ``commit_id`` (None: not checked, or nothing to check).

    Example:
        >>> v = verification_for(state, "alice/Reinforce-CartPole-v1", commit.id)
        >>> v.verdict if v else "unverified"
        'consistent'
    """
    return state.verifications.get(repo_id, commit_id)


class Verifier:
    """The queue of commits to verify and the one thread that verifies them (see the module docstring)."""

    def __init__(self, state: CheckedRepos, limits: SandboxLimits | None = None):
        self.state = state
        self.limits = limits or SandboxLimits()
        self._queues: OrderedDict[str, OrderedDict[str, str]] = OrderedDict()
        self._busy = True  # until the start-up scan has queued what is unchecked
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hubrl-verifier", daemon=True)

    def start(self) -> Verifier:
        """Scan for unchecked heads, then verify what comes, in a thread of its own."""
        self._thread.start()
        return self

    def submit(self, repo_id: str, commit_id: str) -> None:
        """Queue ``repo_id`` at ``commit_id`` (replacing an older commit of the same repo still waiting)."""
        with self._cond:
            queue = self._queues.setdefault(repo_id.split("/")[0], OrderedDict())
            queue[repo_id] = commit_id
            self._cond.notify_all()

    def pending(self) -> int:
        """Commits waiting, plus the one being verified (or the start-up scan, until it queued what it found)."""
        with self._cond:
            return sum(map(len, self._queues.values())) + self._busy

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running (True), or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and not self._queues, timeout=timeout)

    def stop(self) -> None:
        """Stop now: the child running is killed; what is unchecked is queued again at the next start."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _next(self) -> tuple[str, str] | None:
        """The next job, namespaces in turn; None once stopped."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._queues or self._stop.is_set())
            if self._stop.is_set():
                return None
            namespace, queue = next(iter(self._queues.items()))
            job = queue.popitem(last=False)
            del self._queues[namespace]
            if queue:
                self._queues[namespace] = queue  # to the back: the other namespaces go first
            self._busy = True
            return job

    def _run(self) -> None:
        try:
            self._requeue()
        except Exception as err:  # the Hub serves on without its checks rather than stopping
            logger.warning("hubrl verifier: could not scan the repositories (%s: %s)", type(err).__name__, err)
        while (job := self._next()) is not None:
            repo_id, commit_id = job
            try:
                self._verify(repo_id, commit_id)
            except Exception as err:  # one repo's failure must not stop the queue: one line naming it
                logger.warning("hubrl verifier: %s@%s could not be verified (%s: %s)", repo_id, commit_id[:12],
                               type(err).__name__, str(err)[:200])

    def _requeue(self) -> None:
        """Queue every branch head that claims a score and has no verdict yet; drop verdicts of deleted repos."""
        storage = self.state.storage
        metas = list(storage.iter_repos())
        self.state.verifications.tidy({meta.id for meta in metas})
        for meta in metas:
            if self._stop.is_set():
                return
            try:
                heads = set(storage.branches(meta.id).values())
                for commit_id in heads:
                    if self.state.verifications.get(meta.id, commit_id) is None and \
                            claims_score(commit_claim(self.state, meta, storage.read_commit(meta.id, commit_id))):
                        self.submit(meta.id, commit_id)
            except HubServerError:
                continue  # deleted meanwhile

    def _verify(self, repo_id: str, commit_id: str) -> None:
        storage, store = self.state.storage, self.state.verifications
        if store.get(repo_id, commit_id) is not None:
            return
        try:
            meta = storage.get_repo(repo_id)
            if commit_id not in storage.branches(repo_id).values():
                return  # superseded: the repo's newer head was queued in its place
            commit = storage.read_commit(repo_id, commit_id)
        except HubServerError:
            return  # deleted meanwhile
        claim = commit_claim(self.state, meta, commit)
        if not claims_score(claim):
            return
        verification = self._check(repo_id, commit, claim)
        if self._stop.is_set():
            return  # interrupted: verified again at the next start
        if not verification.playable:  # this machine lacks the env's package: not the repo's fault, not final
            logger.info("hubrl verifier: %s@%s unverifiable here: %s", repo_id, commit_id[:12], verification.error)
            return
        store.put(verification)
        logger.info("hubrl verifier: %s@%s %s", repo_id, commit_id[:12], verification.verdict)

    def _check(self, repo_id: str, commit: Commit, claim: Claim) -> Verification:
        """Copy the files the loader reads and verify them in a bounded child."""
        from hubrl.loading import fetch_agent_files
        from hubrl.ranking.sandbox import verify_folder

        with tempfile.TemporaryDirectory(prefix="hubrl-verify-") as tmp:
            folder = Path(tmp) / "repo"
            folder.mkdir()

            def copy(names: list[str]) -> Path:
                for name in names:
                    target = folder / name
                    if not target.exists():
                        with self.state.storage.open_blob(repo_id, commit.files[name].oid) as src, \
                                open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
                return folder

            try:
                fetch_agent_files(repo_id, {p: e.size for p, e in commit.files.items()}, copy)
            except HubrlError as err:  # refused before anything runs: too large, no weights, a bad config
                return Verification(repo_id=repo_id, env_id=claim.env_id or "", claimed_mean=claim.mean,
                                    claimed_std=claim.std, error=str(err), commit=commit.id, checked_by=HUB)
            os.chmod(folder, 0o555)  # the child reads the copy; it never writes there
            try:
                return verify_folder(folder, repo_id=repo_id, env_id=claim.env_id or "", claimed_mean=claim.mean,
                                     claimed_std=claim.std, commit=commit.id, limits=self.limits, stop=self._stop)
            finally:
                os.chmod(folder, 0o755)
