"""What a commit claims, read once per commit from the Hub's own storage: the pages and the verifier share it.

:func:`commit_claim` is :func:`hubrl.ranking.claims.read_claim` over a commit's card (:meth:`ServerState.card`) and
its JSON files, each read only when small (:data:`MAX_JSON_BYTES`) and parsed bounded
(:func:`hubrl.untrusted.parse_json`); an oversized or broken file counts as absent. It never raises for a repo's
content. The verdict of the Hub's own verifier is not part of it: it arrives later, keyed by the same commit
(:func:`hubrl.server.verifier.verification_for`).
"""

from __future__ import annotations

from typing import Any, Protocol

from hubrl.ranking.claims import Claim, read_claim
from hubrl.server.cache import per_commit
from hubrl.server.cards import CardInfo
from hubrl.server.storage import Commit, RepoMeta, Storage
from hubrl.untrusted import MAX_JSON_BYTES, UntrustedFileError, parse_json


class Repos(Protocol):
    """What reading a commit's claim needs of the server (:class:`hubrl.server.state.ServerState` is one)."""

    storage: Storage

    def card(self, repo_id: str, commit: Commit) -> CardInfo: ...


CLAIM_FILES = ("results.json", "hyperparameters.json", "config.json")
"""The JSON files a claim reads beside the card."""


def read_text(state: Repos, repo_id: str, commit: Commit, path: str, limit: int) -> str | None:
    """A file of ``commit`` as text, or None when it is absent or larger than ``limit`` bytes."""
    entry = commit.files.get(path)
    if entry is None or entry.size > limit:
        return None
    with state.storage.open_blob(repo_id, entry.oid) as f:
        return f.read(limit).decode("utf-8", "replace")


def read_json(state: Repos, repo_id: str, commit: Commit, path: str, *, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file of ``commit``, or None when it is absent, larger than ``limit`` bytes, too deep or not JSON."""
    text = read_text(state, repo_id, commit, path, limit)
    if text is None:
        return None
    try:
        return parse_json(text, what=path)
    except UntrustedFileError:
        return None


@per_commit(4096)
def commit_claim(state: Repos, meta: RepoMeta, commit: Commit) -> Claim:
    """The :class:`~hubrl.ranking.claims.Claim` of ``meta``'s repo at ``commit`` (cached per commit: shared, so
    callers copy it before changing it, e.g. with :meth:`~hubrl.ranking.claims.Claim.with_verification`)."""
    repo_id = meta.id
    info = state.card(repo_id, commit)
    files = {name: read_json(state, repo_id, commit, name) for name in CLAIM_FILES}
    claim = read_claim(repo_id, metadata=info.card_data, card_error=info.error, has_card="README.md" in commit.files,
                       results=files["results.json"], hyperparameters=files["hyperparameters.json"],
                       config=files["config.json"], private=meta.private, sha=commit.id, last_modified=commit.date)
    claim.tags = list(info.tags)
    return claim
