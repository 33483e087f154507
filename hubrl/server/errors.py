"""What the local Hub refuses, as domain errors: naming, storage and the access rules raise these, without any HTTP.

The HTTP layer maps each class to a status and, where the huggingface_hub client needs one, an ``X-Error-Code``
(see :data:`hubrl.server.web.ERROR_STATUS`): that table is the only place where a refusal becomes a status.
"""

from __future__ import annotations


class HubServerError(Exception):
    """A request the server refuses. ``str(err)`` is the message sent back to the client."""

    def __init__(self, message: str, *, commit_id: str | None = None):
        super().__init__(message)
        self.commit_id = commit_id
        """The commit the request's revision resolved to, when known (a missing file's answer names it)."""
        self.details: dict[str, object] = {}
        """Extra fields of the error's JSON answer (e.g. the existing repo's ``url``, which the client reads)."""


class InvalidRequest(HubServerError):
    """Malformed input: a name, path, JSON body, commit payload or query parameter the server cannot accept."""


class NotAuthenticated(HubServerError):
    """The request needs a valid token and has none."""


class NotAllowed(HubServerError):
    """The token is valid but may not do this (another user's namespace)."""


class NotFound(HubServerError):
    """Nothing at this URL (no client-visible error code)."""


class RepoNotFound(NotFound):
    """The repository does not exist, or is private and hidden from this caller."""


class RevisionNotFound(NotFound):
    """No branch or commit of that name in the repository."""


class EntryNotFound(NotFound):
    """No file or folder of that path at the revision."""


class MethodNotAllowed(HubServerError):
    """The URL exists but not with this method."""


class AlreadyExists(HubServerError):
    """A repository or branch of that name exists already."""


class StaleParent(HubServerError):
    """A commit named a ``parentCommit`` that is no longer the head of its branch."""


class QuotaExceeded(HubServerError):
    """The user would keep more content, repositories or files than this Hub allows (see
    :mod:`hubrl.server.quotas`)."""


class TooLarge(HubServerError):
    """A request body above the server's size limit."""


class BodyTimeout(HubServerError):
    """A request body that did not arrive whole within its deadline."""


class ClientGone(HubServerError):
    """The client closed the connection before sending its whole body."""


class DataDirInUse(Exception):
    """Another server holds the data directory (one server per directory: repository locks are per process)."""
