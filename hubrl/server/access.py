"""Who may do what, in one place: every route asks a :class:`Caller` before it reads a byte of the request body, so
an anonymous or foreign upload is answered 401/403 without being received.

Reads are anonymous; a private repository is visible (info, listings, downloads) only with a token of its owner,
and is RepoNotFound to everyone else. Writes need ``Authorization: Bearer <token>`` (NotAuthenticated without a
valid one) and are allowed only in the token user's own namespace (NotAllowed otherwise). An unknown token on a
read is treated as anonymous, so a real Hub token that the client sends by habit does not break reads.

The checks read the token file and the repository on disk: call them from a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from hubrl.server.errors import InvalidRequest, NotAllowed, NotAuthenticated, RepoNotFound
from hubrl.server.naming import check_repo_id
from hubrl.server.state import ServerState
from hubrl.server.storage import RepoMeta

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
"""The exact 401 message the client recognises as a bad token (rather than a hidden repository)."""


@dataclass(frozen=True)
class Caller:
    """The sender of one request (its bearer token), and what the access rules let it do on one server's data."""

    state: ServerState
    token: str | None

    @classmethod
    def of(cls, request: Request) -> Caller:
        scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
        token = (value.strip() or None) if scheme.lower() == "bearer" else None
        return cls(request.app.state.hub, token)

    def user(self) -> str | None:
        """The token's user, or None (anonymous) for a missing or unknown token."""
        return self.state.tokens.user_for(self.token)

    def authenticated(self) -> str:
        """The token's user; NotAuthenticated without a valid token."""
        if not self.token:
            raise NotAuthenticated(
                "Authorization required: send 'Authorization: Bearer <token>' "
                "(create a token with `hubrl hub token USER`)."
            )
        user = self.user()
        if user is None:
            raise NotAuthenticated(INVALID_CREDENTIALS)
        return user

    def writer(self, namespace: str) -> str:
        """The user allowed to write to ``namespace``; NotAuthenticated or NotAllowed otherwise."""
        user = self.authenticated()
        if user != namespace:
            raise NotAllowed(
                f"You don't have the rights to write to the namespace '{namespace}': "
                f"the token belongs to '{user}', which can only write to '{user}/...'"
            )
        return user

    def visible(self, repo_id: str) -> RepoMeta:
        """The repository if this caller may see it; RepoNotFound otherwise (private repos hide themselves)."""
        try:
            meta = self.state.storage.get_repo(repo_id)
        except InvalidRequest:
            raise RepoNotFound(f"Repository {repo_id[:200]} not found.") from None
        if meta.private and self.user() != meta.namespace:
            raise RepoNotFound(f"Repository {repo_id} not found.")
        return meta

    def owned(self, repo_id: str) -> tuple[str, RepoMeta]:
        """The user and the repository, if this caller may write to it."""
        user = self.writer(check_repo_id(repo_id)[0])
        return user, self.state.storage.get_repo(repo_id)
