"""One connection to a Hub: which endpoint, which token, and what a failure means, owned in one place.

:class:`HubConnection` follows the ecosystem's conventions, read **at call time** (a notebook that sets
``HF_ENDPOINT`` or ``HF_TOKEN`` after ``import huggingface_hub`` reaches the Hub it names): an explicit ``endpoint`` /
``token`` wins, then ``HF_ENDPOINT`` / ``HF_TOKEN``, then huggingface_hub's default endpoint and the stored
``hf auth login``. Tokens are handed to huggingface_hub only: never printed, logged, stored or shown in a repr.

:meth:`HubConnection.translating` wraps the Hub calls themselves (never the code around them) and turns the client's
errors into typed :class:`~hubrl.errors.HubError` subclasses carrying the HTTP status and the server's message, the
client's error chained as the cause. Anything else (a bug) propagates as it is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hubrl.errors import (
    ConfigError, HubError, HubUnreachableError, NotAuthorizedError, RepoNotFoundError, RevisionNotFoundError,
    first_line,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

DEFAULT_ENDPOINT = "https://huggingface.co"


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is ``namespace/name`` as the Hub accepts it (``huggingface_hub.utils.validate_repo_id``).

    Raises:
        ConfigError: anything else (no namespace, ``a/b/c``, spaces, ``--`` or ``..``), in one line.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise HFValidationError("not namespace/name")
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ConfigError(f"invalid repo id {str(repo_id)[:100]!r}; use namespace/name with letters, digits, '-', "
                          "'_' or '.' (no '--' or '..', not starting or ending with '-' or '.')") from err
    return repo_id


class HubConnection:
    """Endpoint and token (read at call time unless given), the ``HfApi`` built from them, and error translation.

    Args:
        endpoint: the Hub's URL; None: ``$HF_ENDPOINT`` at each call, else https://huggingface.co.
        token: a token, ``False`` for anonymous calls, or None: ``$HF_TOKEN`` at each call, else the stored login.

    Example:
        >>> hub = HubConnection(endpoint="http://127.0.0.1:8080", token=False)
        >>> with hub.translating(repo_id="alice/x"):
        ...     sha = hub.api.model_info("alice/x").sha
    """

    def __init__(self, endpoint: str | None = None, token: str | bool | None = None):
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._token = token

    @property
    def endpoint(self) -> str:
        """The endpoint calls go to now."""
        if self._endpoint:
            return self._endpoint
        from huggingface_hub import constants

        return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT or DEFAULT_ENDPOINT).rstrip("/")

    @property
    def token(self) -> str | bool | None:
        """What is handed to huggingface_hub: the explicit token, else None (it reads ``HF_TOKEN`` / the login)."""
        return self._token

    @property
    def api(self) -> HfApi:
        """An ``HfApi`` for the endpoint and token of this moment (cheap: it holds no connection of its own)."""
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r})"

    def __reduce__(self):
        """Pickles as what it was given (worker processes and Ray tasks rebuild the same connection)."""
        return type(self), (self._endpoint, self._token)

    def download(self, repo_id: str, filename: str, *, revision: str | None = None,
                 cache_dir: str | Path | None = None, tqdm_class=None) -> Path:
        """One file of a repo, through the huggingface_hub cache (raises the client's own errors)."""
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=self.endpoint, token=self.token,
                                    cache_dir=cache_dir, tqdm_class=tqdm_class))

    def whoami(self) -> tuple[str, list[str]]:
        """The user the token belongs to, and the organisations it may write for.

        Raises:
            NotAuthorizedError: no token, or the Hub rejects it.
            HubUnreachableError: no answer from the endpoint.
        """
        if self.token is False:
            raise NotAuthorizedError(f"no token given for {self.endpoint} (anonymous client); pass --token or set "
                                     "HF_TOKEN", status=401)
        with self.translating(repo_id=None, purpose="checking the token"):
            info = self.api.whoami()
        orgs = [str(org.get("name")) for org in info.get("orgs") or [] if isinstance(org, dict)]
        return str(info.get("name")), orgs

    def require_login(self, purpose: str, repo_id: str) -> str:
        """Fail before any work when a write to ``repo_id`` will be refused; return the token's user name.

        Raises:
            NotAuthorizedError: no valid token, or a token of another user than the repo's namespace (its owner is
                named).
            HubUnreachableError: no answer from the endpoint.
        """
        namespace = repo_id.split("/")[0]
        try:
            user, orgs = self.whoami()
        except NotAuthorizedError as err:
            raise NotAuthorizedError(f"{purpose} commits to {repo_id}: pass a write token for {namespace} with "
                                     f"--token or HF_TOKEN ({self.endpoint} rejected the token or got none)",
                                     repo_id=repo_id, status=err.status) from (err.__cause__ or err)
        if namespace != user and namespace not in orgs:
            raise NotAuthorizedError(f"{purpose}: not allowed to write to {repo_id} with {user}'s token; a token can "
                                     f"only write to its own namespace (use {namespace}'s token, or push to "
                                     f"{user}/...)", repo_id=repo_id, status=403)
        return user

    @contextlib.contextmanager
    def translating(self, *, repo_id: str | None, revision: str | None = None,
                    purpose: str | None = None) -> Iterator[None]:
        """Turn the huggingface_hub and network errors raised inside into typed :class:`HubError` s.

        Wrap the Hub calls only: a bug in the code around them must not read "the Hub failed".
        """
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:
            yield
        except (HfHubHTTPError, LocalEntryNotFoundError) as err:
            raise self.error(err, repo_id=repo_id, revision=revision, purpose=purpose) from err
        except Exception as err:
            if not _is_network_error(err):
                raise
            raise self.error(err, repo_id=repo_id, revision=revision, purpose=purpose) from err

    def error(self, err: Exception, *, repo_id: str | None, revision: str | None = None,
              purpose: str | None = None) -> HubError:
        """The typed, one-line :class:`HubError` for a huggingface_hub or network error (never echoing the token)."""
        from huggingface_hub.errors import (
            EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
        )
        from huggingface_hub.errors import RevisionNotFoundError as HfRevisionNotFoundError

        where = f"on {self.endpoint}"
        subject = repo_id or purpose or "the request"
        response = getattr(err, "response", None)
        status = getattr(response, "status_code", None)
        server = getattr(err, "server_message", None) or None
        details = dict(repo_id=repo_id, status=status, server_message=server)
        if isinstance(err, HfRevisionNotFoundError):
            return RevisionNotFoundError(f"revision {revision!r} not found in {repo_id} {where}; check the branch "
                                         "name or commit id", **details)
        if isinstance(err, RepositoryNotFoundError):
            return RepoNotFoundError(f"repo {repo_id} not found {where} (private repos need a token: --token or "
                                     "HF_TOKEN)", **details)
        if isinstance(err, LocalEntryNotFoundError) or _is_network_error(err):
            return HubUnreachableError(f"cannot reach the Hub at {self.endpoint}: {first_line(err)}; check "
                                       "--endpoint / HF_ENDPOINT", **details)
        if isinstance(err, EntryNotFoundError):
            return HubError(f"a file is missing in {repo_id} {where}: {first_line(err)}", **details)
        if status == 401:
            return NotAuthorizedError(f"the Hub at {self.endpoint} rejected the token (missing or invalid); "
                                      "pass --token or set HF_TOKEN", **details)
        if status == 403:
            return NotAuthorizedError(f"not allowed to write to {subject} {where}: a token can only write to its "
                                      f"own namespace{f' ({server})' if server else ''}", **details)
        if isinstance(err, HfHubHTTPError):
            return HubError(f"the Hub at {self.endpoint} refused {subject} ({status}): "
                            f"{server or first_line(err)}", **details)
        return HubError(f"Hub request for {subject} failed: {first_line(err)}", **details)


def _is_network_error(err: Exception) -> bool:
    """No answer at all: socket errors, and the HTTP library's transport errors (connect, timeout, protocol)."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):  # an answer came (HfHubHTTPError is an OSError too)
        return False
    return isinstance(err, (ConnectionError, TimeoutError, OSError)) or any(
        cls.__name__ == "TransportError" for cls in type(err).__mro__)
