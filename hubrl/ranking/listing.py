"""The course leaderboard, read the way the course reads it.

List the Hub models tagged with the exact env id, read the first metric of each card's model-index
(``model-index[0].results[0].metrics[0].value``), split ``"X +/- Y"`` (a lone number means std 0) and sort by
``X - Y``, best first. Cards the leaderboard cannot rank (no model-index, an unparseable value such as ``"abc"``,
unreadable front matter) are listed after the ranked ones with the reason, never dropped silently and never
crashing the listing. Impossible claims are ranked (as the course does) and flagged.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrl.card import read_front_matter
from hubrl.errors import CardError, ConfigError, first_line
from hubrl.ranking.claims import ScoredRecord, Verification, impossible_claims, read_claim

if TYPE_CHECKING:
    from hubrl.hub import HubClient

COURSE_LEADERBOARD_URL = "https://huggingface.co/spaces/huggingface-projects/Deep-Reinforcement-Learning-Leaderboard"
"""Where the course shows its ranking, named as the course names it (units/en/unit4/hands-on.mdx); it refreshes on a
schedule, and its page has a refresh button for a model not listed yet."""


@dataclass
class LeaderboardEntry(ScoredRecord):
    """One model tagged with the env id, as the leaderboard reads its card."""

    repo_id: str
    env_id: str
    rank: int | None
    """1 = best; None when the leaderboard cannot rank the card (see ``parse_error``)."""
    metric_value: Any
    """The first metric's raw value, e.g. ``"500.00 +/- 0.00"``, ``500`` or ``"abc"``."""
    mean: float | None
    std: float | None
    parse_error: str | None = None
    hub_verified: bool = False
    """The metric's ``verified`` flag (set by the Hub only; self-reported cards carry false)."""
    flags: list[str] = field(default_factory=list)
    """Impossible claims, found without running anything."""
    last_modified: str | None = None
    sha: str | None = None
    verification: Verification | None = None


def leaderboard(
    env_id: str,
    *,
    limit: int | None = None,
    author: str | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | Path | None = None,
    client: HubClient | None = None,
) -> list[LeaderboardEntry]:
    """The models tagged ``env_id`` on the Hub, ranked by claimed mean - std, as the course leaderboard ranks them.

    Every page of the listing is read (``limit`` caps only what is returned, after ranking). Cards come from the
    listing's ``cardData``; where it lacks a model-index, README.md is downloaded and its front matter read.
    Unrankable cards follow the ranked ones with ``rank=None`` and a ``parse_error``.

    Args:
        env_id: the env tag, e.g. ``"CartPole-v1"``.
        limit: return the first ``limit`` entries only.
        author: only this user's or organisation's models.
        endpoint, token: override ``HF_ENDPOINT`` / ``HF_TOKEN`` / the stored login; or pass ``client``.
        cache_dir: where README.md downloads go.

    Raises:
        ConfigError: ``limit`` is not positive.
        HubUnreachableError: no answer from the endpoint.
        HubError: the Hub refused the listing. (One unreadable card never fails the listing.)

    Example:
        >>> for entry in leaderboard("CartPole-v1", limit=10):
        ...     print(entry.rank, entry.repo_id, entry.score)
    """
    from hubrl.hub import HubClient

    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be positive, got {limit}")
    client = HubClient.resolve(client, endpoint=endpoint, token=token)
    infos = _list_models(client, env_id, author)
    metadata = _listing_metadata(client, infos, cache_dir=cache_dir)
    ranked = rank_entries([_entry(info, env_id, meta, error) for info, (meta, error) in zip(infos, metadata)])
    return ranked[:limit] if limit is not None else ranked


def rank_entries(entries: list[LeaderboardEntry]) -> list[LeaderboardEntry]:
    """Ranked entries (best score first, then higher mean, then repo id) numbered 1.., then unranked by repo id."""
    ranked = sorted((e for e in entries if e.score is not None), key=lambda e: (-e.score, -e.mean, e.repo_id))
    for i, entry in enumerate(ranked, 1):
        entry.rank = i
    return ranked + sorted((e for e in entries if e.score is None), key=lambda e: e.repo_id)


def _list_models(client: HubClient, env_id: str, author: str | None) -> list:
    """Every model tagged ``env_id``, with its cardData. No ``limit`` is passed, so the client follows every
    ``Link: rel="next"`` page. A card odd enough to break the client's ModelInfo parsing makes us list again without
    cardData (every card is then read from its README.md)."""
    card_logger = logging.getLogger("huggingface_hub.repocard_data")  # "Invalid model-index" noise per odd card
    level = card_logger.level
    card_logger.setLevel(logging.ERROR)
    where = f"the {env_id} listing"
    try:
        try:
            return list(client.api.list_models(filter=[env_id], author=author, cardData=True, full=True))
        except (TypeError, ValueError, KeyError, AttributeError):  # the client choked on a card: list without them
            pass
        except Exception as err:  # network, HTTP: no second try
            raise client.error(err, repo_id=where) from err
        try:
            return list(client.api.list_models(filter=[env_id], author=author, cardData=False, full=True))
        except Exception as err:
            raise client.error(err, repo_id=where) from err
    finally:
        card_logger.setLevel(level)


def _listing_metadata(client: HubClient, infos: list, *, cache_dir) -> list[tuple[dict | None, str | None]]:
    """(raw metadata, error) per listed model: the listing's cardData, else README.md's front matter."""
    out: list[tuple[dict | None, str | None]] = []
    missing: list[int] = []
    for i, info in enumerate(infos):
        meta = None
        if info.card_data is not None:
            meta = info.card_data.to_dict()
            raw_index = getattr(info, "model_index", None)
            if raw_index is not None:  # the raw model-index: ModelCardData drops or regroups odd ones
                meta["model-index"] = raw_index
        out.append((meta, None))
        if meta is None or "model-index" not in meta:
            missing.append(i)
    if missing:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(missing))) as pool:
            fetched = pool.map(lambda i: _readme_metadata(client, infos[i], cache_dir=cache_dir), missing)
            for i, result in zip(missing, fetched):
                out[i] = result
    return out


def _readme_metadata(client: HubClient, info, *, cache_dir) -> tuple[dict | None, str | None]:
    from huggingface_hub.errors import EntryNotFoundError

    siblings = getattr(info, "siblings", None)
    if siblings is not None and "README.md" not in {s.rfilename for s in siblings}:
        return None, "the repo has no README.md (no model card)"
    try:
        path = client.download(info.id, "README.md", revision=info.sha, cache_dir=cache_dir)
        text = path.read_text(encoding="utf-8", errors="replace")
    except EntryNotFoundError:
        return None, "the repo has no README.md (no model card)"
    except Exception as err:  # one unreadable card must not stop the listing
        return None, f"README.md could not be downloaded: {first_line(err)}"
    try:
        meta = read_front_matter(text)
    except CardError as err:
        return None, str(err)
    return (meta if meta is not None else {}), None if meta is not None else "README.md has no YAML front matter"


def _entry(info, env_id: str, meta: dict | None, error: str | None) -> LeaderboardEntry:
    last = info.last_modified.isoformat() if getattr(info, "last_modified", None) else None
    entry = LeaderboardEntry(repo_id=info.id, env_id=env_id, rank=None, metric_value=None, mean=None, std=None,
                             last_modified=last, sha=getattr(info, "sha", None))
    entry.parse_error, entry.metric_value, parsed, entry.hub_verified = read_claim(meta, error)
    if parsed is not None:
        entry.mean, entry.std = parsed
        entry.flags = impossible_claims(env_id, *parsed)
    return entry
