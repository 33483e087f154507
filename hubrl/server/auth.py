"""Users and access tokens of the local Hub.

Tokens are ``hf_`` + 40 random URL-safe characters. Only their sha256 is stored, in ``<data_dir>/auth/users.json``
(mode 0600), together with the user they belong to. Creating a token for a new user creates the user; creating
one for an existing user adds a token and keeps the older ones valid (revoke by editing the file). Every token
has write access to its user's namespace, and only to it. The file is re-read when it changes on disk, so a token
made with ``hubrl hub token`` works at once on a running server. Tokens are never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
from pathlib import Path

from hubrl.errors import ConfigError
from hubrl.server.errors import InvalidRequest
from hubrl.server.naming import check_namespace
from hubrl.server.storage import atomic_write, utc_now_iso

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: in-process locking only
    fcntl = None  # type: ignore[assignment]

TOKEN_PREFIX = "hf_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Users and hashed tokens of one data directory."""

    def __init__(self, data_dir: str | Path):
        self.dir = Path(data_dir) / "auth"
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.dir / "users.json"
        self._guard = threading.Lock()
        self._signature: tuple | None = None
        self._by_digest: dict[str, str] = {}

    @contextlib.contextmanager
    def _exclusive(self):
        """Serialise writers across threads and processes (a CLI may add a token while the server runs)."""
        with self._guard:
            if fcntl is None:
                yield
                return
            fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def _load(self) -> dict:
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read())
        except FileNotFoundError:
            return {"format": 1, "users": {}}
        return data

    def create_token(self, user: str) -> str:
        """A new token for ``user`` (created if needed). Earlier tokens of the user stay valid."""
        try:
            check_namespace(user, "user name")
        except InvalidRequest as err:
            raise ConfigError(str(err)) from None
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        with self._exclusive():
            data = self._load()
            entry = data["users"].setdefault(user, {"createdAt": utc_now_iso(), "tokens": []})
            entry["tokens"].append({"sha256": _digest(token), "createdAt": utc_now_iso()})
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode(), mode=0o600)
        return token

    def users(self) -> list[str]:
        return sorted(self._load()["users"])

    def user_for(self, token: str | None) -> str | None:
        """The user owning ``token``; None for a missing or unknown token."""
        if not token:
            return None
        try:
            st = os.stat(self.path)
            signature: tuple | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = None
        with self._guard:
            if signature != self._signature:
                users = self._load()["users"] if signature is not None else {}
                self._by_digest = {t["sha256"]: name for name, u in users.items() for t in u["tokens"]}
                self._signature = signature
            return self._by_digest.get(_digest(token))


def create_token(data_dir: str | Path, user: str) -> str:
    """Create a token for ``user`` in the Hub data directory ``data_dir`` (creating the user when new).

    Each call returns a new token; the user's older tokens remain valid.
    """
    return TokenStore(data_dir).create_token(user)
