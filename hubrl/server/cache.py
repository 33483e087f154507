"""The server's one cache: what a commit determines (its folder ids, its card's metadata, its page summary).

A commit id is the sha1 of the commit's tree and history, so a value computed for ``(repo_id, commit id)`` never goes
stale: a new push is a new key, and nothing is ever invalidated. Entries are bounded by count (least recently used
first out); concurrent callers asking for the same key wait for the first one's result instead of computing it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import cachetools

F = TypeVar("F", bound=Callable)


def _commit_key(*args: object) -> tuple[object, str]:
    repo, commit = args[-2], args[-1]
    return repo, commit.id  # type: ignore[attr-defined]


def per_commit(maxsize: int) -> Callable[[F], F]:
    """Memoise a function whose last two positional arguments name a repository (its id, or its
    :class:`~hubrl.server.storage.RepoMeta`) and a :class:`~hubrl.server.storage.Commit`, keyed by that repository
    and the commit id (other arguments are not part of the key), keeping at most ``maxsize`` results.

    Example:
        >>> @per_commit(64)
        ... def folder_ids(repo_id, commit): ...
    """
    return cachetools.cached(cachetools.LRUCache(maxsize), key=_commit_key, condition=threading.Condition())
