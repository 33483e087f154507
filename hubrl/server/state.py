"""What every route of one server reads: its data directory's storage and tokens, and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubrl.server.auth import TokenStore
from hubrl.server.cache import per_commit
from hubrl.server.cards import MAX_FRONT_MATTER_BYTES, CardInfo, card_info
from hubrl.server.storage import Commit, Storage
from hubrl.server.verifier import VerificationStore, Verifier, VerifierOptions

DEFAULT_MAX_BODY_BYTES = 1 << 30


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request body may take to arrive; how long and how many connections may wait for a request."""

    body_timeout: float = 30.0
    """Seconds a JSON request body (create, preupload, paths-info, validate-yaml, ...) may take to arrive whole."""
    upload_timeout: float = 3600.0
    """Seconds a commit's body (every file of the commit, base64-encoded) may take to arrive and be stored."""
    header_timeout: float = 15.0
    """Seconds a connection may go without a complete request head: from its opening, or since its last answer."""
    max_waiting_connections: int | None = None
    """Connections waiting for a request head kept at once (the oldest is closed past it); None: a quarter of the
    process's descriptor limit, at most 4096."""

    def __post_init__(self) -> None:
        for name in ("body_timeout", "upload_timeout", "header_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_waiting_connections is not None and self.max_waiting_connections < 1:
            raise ValueError("max_waiting_connections must be at least 1")


DATASETS_DIR = "datasets"
"""Where, inside the data directory, the benchmark dataset repositories live (a storage of their own, so a dataset
and a model repository may share a name)."""


class ServerState:
    """One data directory's storage (locked while the server runs) and tokens, the listing page size and limits;
    ``datasets`` holds the benchmark datasets the server creates itself (:mod:`hubrl.server.benchmarks`);
    ``verifications`` the Hub's own verdicts on claimed scores and ``verifier``, when enabled, what makes them."""

    def __init__(self, data_dir: str | Path, *, page_size: int = 1000, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 limits: ConnectionLimits | None = None, verifier: VerifierOptions | None = None):
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be at least 1")
        self.page_size = page_size
        self.max_body_bytes = max_body_bytes
        """Largest request body, counted in bytes actually received (a larger ``Content-Length`` is refused at once)."""
        self.limits = limits or ConnectionLimits()
        self.storage = Storage(data_dir)
        self.datasets = Storage(Path(data_dir) / DATASETS_DIR)
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
        """The README metadata of a commit (read from the top of the README: the front matter is there)."""
        readme = commit.files.get("README.md")
        text = None
        if readme is not None:
            with self.storage.open_blob(repo_id, readme.oid) as f:
                text = f.read(2 * MAX_FRONT_MATTER_BYTES)
        return card_info(text)
