"""Per-user limits of a class Hub: storage, repositories, files per repository; and the refusals that name them.

The defaults fit a class working through the Deep RL Course on one teacher's machine. A Unit 4 agent pushed by hubrl
or the course notebook is a few files (weights of a few KiB to a few MiB, a replay video of tens of KiB to a few MiB, a
curve, a card and JSON files: 8 files, 0.1 to 1.1 MiB for the reference agents of ``model_cards/reference``); a
student needs two or three such repos and may push each many times. So:

- :attr:`Quotas.storage_bytes`, 1 GiB per user: hundreds of pushes of the largest reference agent, while a class of
  40 at the limit still fits a laptop disk (40 GiB). What counts is the content the user's repositories keep: every
  file of every branch head and the earlier versions of files that later commits replaced (the history stays
  downloadable); a file a commit deletes is freed at once, with its earlier versions.
- :attr:`Quotas.repos`, 100 per user: the course needs three; sweeps that push each configuration need dozens.
- :attr:`Quotas.files_per_repo`, 1000 per repository: a run folder holds 8; a listing of a repository
  (``list_models(full=True)``, what ``hubrl leaderboard`` reads) carries every file name, so 100,000 files in one
  repository make every such listing megabytes long.

``None`` means no limit (``hubrl hub serve --max-... 0``). A commit that does not grow what it is limited by (one that
deletes files) is accepted even above a limit, so a user above a lowered limit can always clean up.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubrl.defaults import HUB_REPO_FILES, HUB_USER_REPOS, HUB_USER_STORAGE
from hubrl.server.errors import QuotaExceeded


def format_bytes(n: int) -> str:
    """``1.00 GiB``, ``512.0 MiB``, ``300 B``: the sizes the refusals quote."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.2f} {unit}" if unit == "GiB" else f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class Quotas:
    """What one user may keep on this Hub (``None``: no limit). See the module docstring for the defaults."""

    storage_bytes: int | None = HUB_USER_STORAGE
    """Bytes of content a user's repositories keep, all together."""
    repos: int | None = HUB_USER_REPOS
    """Repositories a user may own."""
    files_per_repo: int | None = HUB_REPO_FILES
    """Files in any branch head of one repository."""

    def __post_init__(self) -> None:
        for name in ("storage_bytes", "repos", "files_per_repo"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None (no limit), got {value!r}")

    @classmethod
    def unlimited(cls) -> Quotas:
        return cls(storage_bytes=None, repos=None, files_per_repo=None)

    def check_repos(self, user: str, owned: int) -> None:
        """QuotaExceeded when ``user``, owning ``owned`` repositories, may not create another."""
        if self.repos is not None and owned >= self.repos:
            raise QuotaExceeded(
                f"{user} already has {owned} repositories, this Hub's limit per user: delete one you no longer need "
                "(HfApi().delete_repo(repo_id)) or ask the Hub's administrator to raise it (hubrl hub serve "
                "--max-repos-per-user)."
            )

    def check_files(self, repo_id: str, before: int, after: int) -> None:
        """QuotaExceeded when a commit takes ``repo_id`` from ``before`` to more files than allowed."""
        if self.files_per_repo is not None and after > self.files_per_repo and after > before:
            raise QuotaExceeded(
                f"This commit would leave {after} files in {repo_id}, over this Hub's limit of {self.files_per_repo} "
                "files per repository: commit fewer files (an archive instead of many small files) or ask the "
                "Hub's administrator to raise it (hubrl hub serve --max-files-per-repo)."
            )

    def check_storage(self, user: str, before: int, after: int, *, at_least: bool = False) -> None:
        """QuotaExceeded when ``user``'s content grows from ``before`` to ``after`` bytes above the quota
        (``at_least``: ``after`` is a lower bound, the content is still arriving)."""
        if self.storage_bytes is not None and after > self.storage_bytes and after > before:
            grow = "at least " if at_least else ""
            raise QuotaExceeded(
                f"This upload would bring the content of {user}'s repositories to {grow}{format_bytes(after)}, over "
                f"this Hub's quota of {format_bytes(self.storage_bytes)} per user (now used: "
                f"{format_bytes(before)}): delete files or repositories you no longer need, in a commit of their own "
                "(deleting a file frees its space at once, earlier versions included), or ask the Hub's "
                "administrator to raise it (hubrl hub serve --max-storage-per-user)."
            )
