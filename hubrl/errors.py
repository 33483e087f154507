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


class ConfigError(HubrlError, ValueError):
    """A hyperparameter or option makes no sense (zero sizes, negative learning rate, ...)."""


class OutputExistsError(HubrlError, FileExistsError):
    """The output folder already exists and ``overwrite`` was not requested."""


class RunFolderError(HubrlError):
    """A run folder is missing files or holds corrupt ones."""


class TrainingDivergedError(HubrlError):
    """The loss became NaN/inf; the last good checkpoint was kept."""


class VideoError(HubrlError):
    """A replay video could not be produced."""


class CardError(HubrlError):
    """A model card lacks what the leaderboard reads (env tag, model-index, metric format...)."""


class HubError(HubrlError):
    """A Hub operation failed (repo/revision not found, auth, network)."""


class UnsafePickleError(HubrlError):
    """A course ``model.pt`` holds something other than plain tensors and torch.nn layers; refused."""


class AgentFormatError(HubrlError):
    """Weights found but not in a format hubrl can load (unknown layout, shape mismatch)."""


class ClusterError(HubrlError):
    """Ray is not installed, or the Ray cluster cannot be reached."""
