"""Errors the local Hub answers with, each carrying its HTTP status and, where the client needs one, its
``X-Error-Code`` (the huggingface_hub client maps that header, not the status, to its exception types)."""

from __future__ import annotations


class HubServerError(Exception):
    """A request the server refuses. ``str(err)`` is the message sent back to the client."""

    status = 400
    code: str | None = None

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = {}
        """Extra response headers (e.g. ``X-Repo-Commit`` on a missing file)."""
        self.details: dict[str, object] = {}
        """Extra fields of the JSON error body (e.g. the existing repo's ``url`` on a 409, which the client reads)."""


class BadRequest(HubServerError):
    status = 400


class Unauthorized(HubServerError):
    status = 401


class Forbidden(HubServerError):
    status = 403


class NotFound(HubServerError):
    """A route or resource that does not exist, without a client-visible error code."""

    status = 404


class RepoNotFound(HubServerError):
    status = 404
    code = "RepoNotFound"


class RevisionNotFound(HubServerError):
    status = 404
    code = "RevisionNotFound"


class EntryNotFound(HubServerError):
    status = 404
    code = "EntryNotFound"


class Conflict(HubServerError):
    status = 409


class PreconditionFailed(HubServerError):
    """A commit named a ``parentCommit`` that is no longer the head of the branch."""

    status = 412


class PayloadTooLarge(HubServerError):
    status = 413


class RangeNotSatisfiable(HubServerError):
    status = 416
