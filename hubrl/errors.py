"""Errors a user can cause and fix.

Every exception here carries a one-line message that says what went wrong *and what to do*.
The CLI prints that line and exits non-zero; Python users can catch the precise type.
"""

from __future__ import annotations


class HubrlError(Exception):
    """Base class: a problem the user can fix. ``str(err)`` is a one-line, actionable message."""

    exit_code = 2


class UnknownEnvError(HubrlError, ValueError):
    """The environment id is not one hubrl knows."""


class MissingDependencyError(HubrlError, ImportError):
    """The environment needs a package that is not installed; the message names what to install."""


class ConfigError(HubrlError, ValueError):
    """A hyperparameter or option makes no sense (zero sizes, negative learning rate, ...)."""


class OutputExistsError(HubrlError, FileExistsError):
    """The output folder already exists and ``overwrite`` was not requested."""


class RunFolderError(HubrlError):
    """A run folder is missing files or holds corrupt ones."""


class TimeLimitError(HubrlError, TimeoutError):
    """An evaluation or verification ran past its wall-clock limit (someone else's agent may be built to be slow)."""


class TrainingDivergedError(HubrlError):
    """The loss became NaN/inf; the last good checkpoint was kept."""


class VideoError(HubrlError):
    """A replay video could not be produced."""


class CardError(HubrlError):
    """A model card lacks what the leaderboard reads (env tag, model-index, metric format...)."""


class HubError(HubrlError):
    """A Hub operation failed; the subclasses below say why where a caller may act differently.

    ``repo_id`` names the repo concerned (None when none is), ``status`` the HTTP status (None: no answer, or not an
    HTTP failure), ``server_message`` what the server said, and ``__cause__`` holds the huggingface_hub or network
    error it translates.
    """

    def __init__(self, message: str, *, repo_id: str | None = None, status: int | None = None,
                 server_message: str | None = None):
        super().__init__(message)
        self.repo_id = repo_id
        self.status = status
        self.server_message = server_message


class RepoNotFoundError(HubError, LookupError):
    """The repo does not exist on that Hub, or is private and the token cannot see it."""


class RevisionNotFoundError(HubError, LookupError):
    """The repo exists but has no such branch, tag or commit."""


class NotAuthorizedError(HubError, PermissionError):
    """The Hub refused the token: missing or invalid (401), or not allowed to do this (403)."""


class HubUnreachableError(HubError, ConnectionError):
    """No answer from the Hub's endpoint (connection refused, DNS, timeout)."""


class UnsafePickleError(HubrlError):
    """A course ``model.pt`` holds something other than plain tensors and torch.nn layers; refused."""


class AgentFormatError(HubrlError):
    """Weights found but not in a format hubrl can load (unknown layout, shape mismatch)."""


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line reports."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def course_signature_error(called: str, expected: str, other: str, replacement: str) -> ConfigError:
    """The one line for a call made with the other API's signature (the course notebook's vs hubrl's)."""
    return ConfigError(f"{called} takes {expected}; for {other}, use {replacement}")


class ClusterError(HubrlError):
    """Ray is not installed, or the Ray cluster cannot be reached."""
