"""What every route of one server reads: its data directory's storage and tokens, and its limits."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from hubrl.server.auth import TokenStore
from hubrl.server.cache import per_commit
from hubrl.server.cards import MAX_FRONT_MATTER_BYTES, CardInfo, card_info
from hubrl.server.quotas import Quotas
from hubrl.server.storage import Commit, Storage
from hubrl.server.verifier import VerificationStore, Verifier, VerifierOptions

DEFAULT_MAX_BODY_BYTES = 1 << 30
logger = logging.getLogger("hubrl.server")


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request body may take to arrive; how long and how many connections may wait for a request; how
    much of a refused body is still read so that its client hears the answer."""

    body_timeout: float = 30.0
    """Seconds a JSON request body (create, preupload, paths-info, validate-yaml, ...) may take to arrive whole."""
    upload_timeout: float = 3600.0
    """Seconds a commit's body (every file of the commit, base64-encoded) may take to arrive and be stored."""
    header_timeout: float = 15.0
    """Seconds a connection may go without a complete request head: from its opening, or since its last answer."""
    max_waiting_connections: int | None = None
    """Connections waiting for a request head kept at once (the oldest is closed past it); None: a quarter of the
    process's descriptor limit, at most 4096."""
    drain_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Bytes of a refused request's body still read (and dropped) after the answer, so that the client, which sends
    its whole body before reading, hears the refusal instead of a reset; the connection is closed past them."""
    drain_rate: float = 64 << 10
    """Bytes a second such a body must keep arriving at, on average after a ``header_timeout`` grace, to be drained
    (a slow classroom Wi-Fi does megabytes a second); slower, it is closed like an idle connection."""

    def __post_init__(self) -> None:
        for name in ("body_timeout", "upload_timeout", "header_timeout", "drain_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.drain_bytes < 0:
            raise ValueError("drain_bytes must be 0 or more")
        if self.max_waiting_connections is not None and self.max_waiting_connections < 1:
            raise ValueError("max_waiting_connections must be at least 1")


DATASETS_DIR = "datasets"
"""Where, inside the data directory, the benchmark dataset repositories live (a storage of their own, so a dataset
and a model repository may share a name)."""


class ServerState:
    """One data directory's storage (locked while the server runs) and tokens, the listing page size and limits, and
    the per-user quotas (enforced by the storage); ``datasets`` holds the benchmark datasets the server creates
    itself (:mod:`hubrl.server.benchmarks`, no quotas: no user writes them); ``verifications`` the Hub's own verdicts
    on claimed scores and ``verifier``, when enabled, what makes them."""

    def __init__(self, data_dir: str | Path, *, page_size: int = 1000, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 limits: ConnectionLimits | None = None, quotas: Quotas | None = None,
                 verifier: VerifierOptions | None = None):
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self.page_size = page_size
        self.max_body_bytes = max_body_bytes
        """Largest request body, counted in bytes actually received (a larger ``Content-Length`` is refused at once)."""
        self.limits = limits or ConnectionLimits()
        self.storage = Storage(data_dir, quotas=quotas)
        self.datasets = Storage(Path(data_dir) / DATASETS_DIR, quotas=Quotas.unlimited())
        self.tokens = TokenStore(data_dir)
        self.verifications = VerificationStore(data_dir)
        self.verifier = Verifier(self, verifier.limits).start() if verifier and verifier.enabled else None
        """Verifies every pushed claim (:mod:`hubrl.server.verifier`); None when the Hub runs without checks."""

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.stop()
        self.storage.close()
        self.datasets.close()

    @per_commit(4096)
    def card(self, repo_id: str, commit: Commit) -> CardInfo:
        """The README metadata of a commit (read from the top of the README: the front matter is there), parsed once
        per commit. Whatever is wrong with one card makes that card unreadable, logged once in one line naming the
        repository and commit, and never fails the page or listing that asked."""
        readme = commit.files.get("README.md")
        try:
            text = None
            if readme is not None:
                with self.storage.open_blob(repo_id, readme.oid) as f:
                    text = f.read(2 * MAX_FRONT_MATTER_BYTES)
            info = card_info(text, truncated=readme is not None and readme.size > len(text or b""))
        except Exception as err:  # a card must not take down a page: a bug here shows as an unreadable card
            info = CardInfo(None, [], None, None, None, error=f"the card could not be read ({type(err).__name__})")
        if info.error:
            logger.warning("Unreadable model card: %s at %s: %s", repo_id, commit.id, info.error[:300])
        return info
