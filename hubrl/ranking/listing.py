"""The course leaderboard, read the way the course reads it.

List the Hub models tagged with the exact env id, read each repo once as a :class:`~hubrl.ranking.claims.Claim`
(the first metric of the card's model-index, ``"X +/- Y"``, a lone number meaning std 0) and order them with
:func:`~hubrl.ranking.claims.rank`, the same order the local Hub's leaderboard page and ``hubrl submit`` use. Cards
the leaderboard cannot rank (no model-index, an unparseable value such as ``"abc"``, unreadable front matter, a
claim about another env) are listed after the ranked ones with the reason, never dropped silently and never crashing
the listing. Impossible claims are ranked (as the course does) and flagged.
"""

from __future__ import annotations

import concurrent.futures
import logging
from pathlib import Path

from hubrl.card import read_front_matter
from hubrl.errors import CardError, ConfigError, first_line
from hubrl.ranking.claims import Claim, env_sources, rank, read_claim

from hubrl.connection import HubConnection

COURSE_LEADERBOARD_URL = "https://huggingface.co/spaces/huggingface-projects/Deep-Reinforcement-Learning-Leaderboard"
"""Where the course shows its ranking, named as the course names it (units/en/unit4/hands-on.mdx); it refreshes on a
schedule, and its page has a refresh button for a model not listed yet."""

LeaderboardEntry = Claim
"""A leaderboard row is a repo's :class:`~hubrl.ranking.claims.Claim` with its rank."""


def leaderboard(
    env_id: str,
    *,
    limit: int | None = None,
    author: str | None = None,
    cache_dir: str | Path | None = None,
    client: HubConnection | None = None,
) -> list[LeaderboardEntry]:
    """The models tagged ``env_id`` on the Hub, ranked by claimed mean - std, as the course leaderboard ranks them.

    Every page of the listing is read (``limit`` caps only what is returned, after ranking). Cards come from the
    listing's ``cardData``; where it lacks a model-index, README.md is downloaded and its front matter read.
    Unrankable cards follow the ranked ones with ``rank=None`` and a ``parse_error``.

    Args:
        env_id: the env tag, e.g. ``"CartPole-v1"``.
        limit: return the first ``limit`` entries only.
        author: only this user's or organisation's models.
        client: the Hub (a :class:`hubrl.hub.HubClient`; default: ``HF_ENDPOINT`` / ``HF_TOKEN`` at call time).
        cache_dir: where README.md downloads go.

    Raises:
        ConfigError: ``limit`` is not positive.
        HubUnreachableError: no answer from the endpoint.
        HubError: the Hub refused the listing. (One unreadable card never fails the listing.)

    Example:
        >>> for entry in leaderboard("CartPole-v1", limit=10):
        ...     print(entry.rank, entry.repo_id, entry.score)
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be positive, got {limit}")
    client = client or HubConnection()
    infos = _list_models(client, env_id, author)
    claims = _claims(client, infos, env_id, cache_dir=cache_dir)
    ranked = rank(claims, board=env_id)
    return ranked[:limit] if limit is not None else ranked


def _list_models(client: HubConnection, env_id: str, author: str | None) -> list:
    """Every model tagged ``env_id``, with its cardData. No ``limit`` is passed, so the client follows every
    ``Link: rel="next"`` page. A card odd enough to break the client's ModelInfo parsing makes us list again without
    cardData (every card is then read from its README.md)."""
    card_logger = logging.getLogger("huggingface_hub.repocard_data")  # "Invalid model-index" noise per odd card
    level = card_logger.level
    card_logger.setLevel(logging.ERROR)
    where = f"the {env_id} listing"
    try:
        try:
            with client.translating(repo_id=None, purpose=where):
                return list(client.api.list_models(filter=[env_id], author=author, cardData=True, full=True))
        except (TypeError, ValueError, KeyError, AttributeError):  # the client choked on a card: list without them
            pass
        with client.translating(repo_id=None, purpose=where):
            return list(client.api.list_models(filter=[env_id], author=author, cardData=False, full=True))
    finally:
        card_logger.setLevel(level)


def _claims(client: HubConnection, infos: list, board: str, *, cache_dir) -> list[Claim]:
    """Each listed model's claim, read from what the leaderboard page and ``hubrl submit`` read too: the listing's
    cardData (else README.md's front matter), results.json and hyperparameters.json (config.json where none of these
    names an env), so that every reader sees the same env and the same problems."""
    def one(info) -> Claim:
        meta, error, has_card = _card_metadata(client, info, cache_dir=cache_dir)
        files = {name: _json_file(client, info, name, cache_dir=cache_dir)
                 for name in ("results.json", "hyperparameters.json")}
        config = None
        if not env_sources(meta or {}, files["results.json"], files["hyperparameters.json"], None):
            config = _json_file(client, info, "config.json", cache_dir=cache_dir)
        last = info.last_modified.isoformat() if getattr(info, "last_modified", None) else None
        return read_claim(info.id, metadata=meta, card_error=error, has_card=has_card,
                          results=files["results.json"], hyperparameters=files["hyperparameters.json"],
                          config=config, private=getattr(info, "private", None), sha=getattr(info, "sha", None),
                          last_modified=last, board=board)

    if not infos:
        return []
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(infos))) as pool:
        return list(pool.map(one, infos))


def _card_metadata(client: HubConnection, info, *, cache_dir) -> tuple[dict | None, str | None, bool]:
    """(raw metadata, error, has a README) for a listed model: the listing's cardData, else README.md's."""
    if info.card_data is not None:
        meta = info.card_data.to_dict()
        raw_index = getattr(info, "model_index", None)
        if raw_index is not None:  # the raw model-index: ModelCardData drops or regroups odd ones
            meta["model-index"] = raw_index
        if "model-index" in meta:
            return meta, None, True
    siblings = getattr(info, "siblings", None)
    if siblings is not None and "README.md" not in {s.rfilename for s in siblings}:
        return None, None, False
    text = _text_file(client, info, "README.md", cache_dir=cache_dir)
    if isinstance(text, Exception):
        from huggingface_hub.errors import EntryNotFoundError

        if isinstance(text, EntryNotFoundError):
            return None, None, False
        return None, f"README.md could not be downloaded: {first_line(text)}", True
    try:
        return read_front_matter(text), None, True
    except CardError as err:
        return None, str(err), True


MAX_METADATA_BYTES = 1 << 20
"""Largest results.json / hyperparameters.json / README.md the listing reads (someone else's files)."""


def _text_file(client: HubConnection, info, name: str, *, cache_dir) -> str | Exception:
    siblings = {s.rfilename: s for s in (getattr(info, "siblings", None) or [])}
    size = getattr(siblings.get(name), "size", None)
    if size is not None and size > MAX_METADATA_BYTES:
        return ValueError(f"{name} is larger than {MAX_METADATA_BYTES >> 20} MiB")
    try:
        path = client.download(info.id, name, revision=info.sha, cache_dir=cache_dir)
        if path.stat().st_size > MAX_METADATA_BYTES:
            return ValueError(f"{name} is larger than {MAX_METADATA_BYTES >> 20} MiB")
        return path.read_text(encoding="utf-8", errors="replace")
    except Exception as err:  # one unreadable file must not stop the listing
        return err


def _json_file(client: HubConnection, info, name: str, *, cache_dir):
    """A listed repo's JSON file, or None when it is absent, too large or not JSON."""
    import json

    siblings = getattr(info, "siblings", None)
    if siblings is not None and name not in {s.rfilename for s in siblings}:
        return None
    text = _text_file(client, info, name, cache_dir=cache_dir)
    if isinstance(text, Exception):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
