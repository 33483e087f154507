"""The Hub client: push run folders, load agents by repo id, rank, submit and verify, through one :class:`HubClient`.

As with huggingface_hub's ``HfApi``, the client's methods are also module functions bound to a default client
(``hubrl.push_to_hub`` is ``HubClient().push_to_hub``), whose endpoint and token are read at each call:
``HF_ENDPOINT`` / ``HF_TOKEN`` set after ``import huggingface_hub`` (a notebook's order) are honoured. Another Hub,
or another user, is another client::

    from hubrl.hub import HubClient

    classmate = HubClient(endpoint="http://127.0.0.1:8080", token=False)
    agent = classmate.load_from_hub("alice/Reinforce-CartPole-v1")

Failures are typed :class:`~hubrl.errors.HubError` subclasses (repo or revision not found, not authorised,
unreachable) with the HTTP status, the server's message and the client's error chained as their cause. Pushing is
:mod:`hubrl.pushing`, loading :mod:`hubrl.loading`, ranking and submission :mod:`hubrl.ranking`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hubrl.connection import HubConnection, check_repo_id
from hubrl.loading import load_agent as _load_agent
from hubrl.loading import load_from_hub as _load_from_hub
from hubrl.pushing import PushResult, push_run

if TYPE_CHECKING:
    from hubrl.ranking import LeaderboardEntry, SubmissionReport, Verification
    from hubrl.records import Agent


class HubClient(HubConnection):
    """One Hub and one identity: push, load, leaderboard, submission and verification.

    Args:
        endpoint: the Hub's URL; None: ``$HF_ENDPOINT`` at each call, else https://huggingface.co.
        token: a token, ``False`` for anonymous calls, or None: ``$HF_TOKEN`` at each call, else the stored login.
            Never printed, logged or shown in the client's repr.

    Example:
        >>> hub = HubClient(endpoint="http://127.0.0.1:8080", token=os.environ["ALICE_TOKEN"])
        >>> hub.push_to_hub("runs/cartpole", "alice/Reinforce-CartPole-v1").summary()
        >>> [e.repo_id for e in hub.leaderboard("CartPole-v1", limit=3)]
    """

    def push_to_hub(self, run_dir: str | os.PathLike, repo_id: str, *course_args, private: bool = False,
                    revision: str | None = None, commit_message: str | None = None, dry_run: bool = False,
                    delete_paths: tuple[str, ...] | list[str] = ()) -> PushResult:
        """Push a complete run folder to ``repo_id`` in one commit (see :func:`hubrl.pushing.push_run`).

        Raises:
            ConfigError, RunFolderError, CardError, NotAuthorizedError, HubUnreachableError, HubError: see
                :func:`hubrl.pushing.push_run`; and a ``TypeError``-free one-line :class:`~hubrl.errors.ConfigError`
                for the course notebook's ``push_to_hub(repo_id, model, hyperparameters, eval_env)`` signature.

        Example:
            >>> push_to_hub("runs/CartPole-v1-default-seed0", "alice/Reinforce-CartPole-v1")
        """
        _refuse_course_signature(repo_id, course_args)
        return push_run(run_dir, repo_id, client=self, private=private, revision=revision,
                        commit_message=commit_message, dry_run=dry_run, delete_paths=delete_paths)

    def load_from_hub(self, repo_id: str, *, revision: str | None = None,
                      cache_dir: str | Path | None = None) -> Agent:
        """A classmate's agent by repo id; no code from the repo ever runs (see :func:`hubrl.loading.load_from_hub`).

        Example:
            >>> agent = load_from_hub("bob/Reinforce-Pixelcopter-PLE-v0")
        """
        return _load_from_hub(repo_id, client=self, revision=revision, cache_dir=cache_dir)

    def load_agent(self, source: str | Path, *, revision: str | None = None) -> Agent:
        """A run folder path or a repo id -> :class:`~hubrl.records.Agent` (an existing local folder wins)."""
        return _load_agent(source, client=self, revision=revision)

    def leaderboard(self, env_id: str, *, limit: int | None = None, author: str | None = None,
                    cache_dir: str | Path | None = None) -> list[LeaderboardEntry]:
        """The models tagged ``env_id``, ranked by claimed mean - std (see :func:`hubrl.ranking.leaderboard`)."""
        from hubrl.ranking import leaderboard

        return leaderboard(env_id, limit=limit, author=author, cache_dir=cache_dir, client=self)

    def check_submission(self, repo_id: str, *, verify: bool = False, fix: bool = False,
                         cache_dir: str | Path | None = None) -> SubmissionReport:
        """Whether and where ``repo_id`` appears on the leaderboard (see :func:`hubrl.ranking.check_submission`)."""
        from hubrl.ranking import check_submission

        return check_submission(repo_id, verify=verify, fix=fix, cache_dir=cache_dir, client=self)

    def verify_entries(self, entries: list[LeaderboardEntry], n: int | None = None, *,
                       cache_dir: str | Path | None = None, workers: int | None = None,
                       ray_address: str | None = None) -> list[Verification]:
        """Re-evaluate the top ``n`` ranked entries (see :func:`hubrl.ranking.verify_entries`)."""
        from hubrl.defaults import DEFAULT_VERIFY_TOP
        from hubrl.ranking import verify_entries

        return verify_entries(entries, n or DEFAULT_VERIFY_TOP, cache_dir=cache_dir, workers=workers,
                              ray_address=ray_address, client=self)


def _refuse_course_signature(repo_id, course_args) -> None:
    """``hubrl.push_to_hub(repo_id, model, hyperparameters, eval_env)`` is the course notebook's call: say where it is."""
    from hubrl.errors import course_signature_error

    if course_args or not isinstance(repo_id, str):
        raise course_signature_error("hubrl.push_to_hub", "(run_folder, repo_id) and pushes a hubrl run folder",
                                     "the course notebook's push_to_hub(repo_id, model, hyperparameters, eval_env)",
                                     "`from hubrl.course import push_to_hub`")


_DEFAULT = HubClient()
"""The client the module functions are bound to: ``HF_ENDPOINT`` / ``HF_TOKEN`` read at each call."""

push_to_hub = _DEFAULT.push_to_hub
load_from_hub = _DEFAULT.load_from_hub
load_agent = _DEFAULT.load_agent

__all__ = ["HubClient", "PushResult", "check_repo_id", "load_agent", "load_from_hub", "push_to_hub"]
