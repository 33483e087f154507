"""The server's caches: what a commit determines (the commit itself, its folder ids, its card's metadata, its page
summary, its sorted file listings).

A commit id is the sha1 of the commit's tree and history, so a value computed for ``(repo_id, commit id)`` never goes
stale: a new push is a new key, and nothing is ever invalidated. Entries are bounded by count, or by weight where one
commit can be large (its number of files), least recently used first out; concurrent callers asking for the same
key wait for the first one's result instead of computing it again, so 200 page views after a push parse its card
once. A computation that raises is not cached: callers turn someone else's bad data into a value first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import cachetools

F = TypeVar("F", bound=Callable)


def _commit_key(*args: object, **kwargs: object) -> tuple[object, ...]:
    repo, commit, rest = args[1], args[2], args[3:]
    return (repo, commit.id, *rest, *sorted(kwargs.items()))  # type: ignore[attr-defined]


def per_commit(maxsize: int, *, weigh: Callable[[Any], int] | None = None) -> Callable[[F], F]:
    """Memoise ``f(owner, repo, commit, *args, **kwargs)``: ``repo`` names a repository (its id, or its
    :class:`~hubrl.server.storage.RepoMeta`) and ``commit`` is a :class:`~hubrl.server.storage.Commit`; the key is
    the repository, the commit id and the further arguments (``owner``, a server's state, is not part of it).

    Args:
        maxsize: the most entries kept, or the most total weight with ``weigh``.
        weigh: the weight of a result (e.g. its length), for results whose size varies with the commit.

    Example:
        >>> @per_commit(64)
        ... def folder_ids(storage, repo_id, commit): ...
    """
    cache = cachetools.LRUCache(maxsize, getsizeof=(lambda v: max(1, weigh(v))) if weigh else None)
    return cachetools.cached(cache, key=_commit_key, condition=threading.Condition())


def per_commit_id(max_files: int) -> Callable[[F], F]:
    """Memoise ``read(owner, repo_id, commit_id) -> Commit`` (a commit file is immutable once written), keeping at
    most ``max_files`` file entries in all (a commit of 100,000 files weighs 100,000, a one-file commit 2)."""
    cache = cachetools.LRUCache(max_files, getsizeof=lambda commit: 1 + len(commit.files))
    return cachetools.cached(cache, key=lambda _owner, repo_id, commit_id: (repo_id, commit_id),
                             condition=threading.Condition())
