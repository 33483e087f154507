"""What a repo claims, read once: :class:`Claim` (env, mean, std, score, pass mark, verification state, problems),
and :func:`rank`, the one order of the leaderboard. Pure: no I/O, no gymnasium (the local Hub's pages use it too).

The course's numbers have one definition here: the score is ``mean - std``; an agent passes when its score reaches
the env's pass mark (:attr:`hubrl.envs.facts.EnvInfo.pass_mark`); the claim is the card's first model-index
metric, ``"X +/- Y"`` (a lone number means std 0), as the course leaderboard reads it.

**Which env a repo plays** (:data:`ENV_SOURCES`, first that names one): the card's model-index dataset (what the
leaderboard ranks the claim under), then results.json (what the agent was evaluated on), hyperparameters.json (what
it was trained on; hydra-style nesting read too), config.json (hubrl's weights), then a known env id among the card's
tags. When these files name different envs, the claim carries an ``env-mismatch`` problem naming each.

**Verification** is only ever a check hubrl itself ran: a :class:`Verification` handed to the claim by whoever ran
it (this process's ``--verify``, or the local Hub's own verifier). What a repo says about itself (a
``hubrl_verification`` record in its results.json, a ``verified: true`` in its card) is kept as
``self_reported`` and never shown as verified.

Checking claims. Scores on cards are self-reported; hubrl flags them in two ways:

* **impossible** (no agent needed): the claimed mean is above the env's best possible return
  (:attr:`~hubrl.envs.facts.EnvInfo.max_return`, e.g. 500 for CartPole-v1's 500-step limit) or below its lowest, or
  the claimed std is negative or larger than half the return range (no set of returns in [min, max] has a larger
  std).
* **far outside the measured range** (after a verification): a claimed mean with
  ``|claimed mean - measured mean| > max(3 * measured std, 5% of (max_return - min_return))``.
  Three standard deviations of the episode returns is deliberately lenient (the claimed mean is itself an average
  of ~10 episodes); the 5%-of-range floor keeps agents whose measured returns barely vary (a CartPole agent at
  500.00 +/- 0.00) from being flagged over noise: on CartPole-v1 the floor is 24.95.

Both rules need hubrl's facts for the env. For an env outside hubrl's table (:data:`hubrl.envs.facts.ENVS`: any
other gymnasium env) no reachable range is known, so nothing is judged impossible, and a claim ranks on its card alone;
a verification still flags a mean far outside the measured range, the floor then being 5% of the measured mean's
magnitude (at least 0.05). An env hubrl cannot play on this machine (not installed, or not registered with
gymnasium) is not verified: the verification says why (``unverifiable``), and the claim stays ``unverified``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from hubrl.card import Problem, first_metric, format_metric, metadata_problems, parse_metric
from hubrl.defaults import VERIFY_SEED
from hubrl.envs.facts import ENVS
from hubrl.records import VERIFICATION_KEY

FAR_STDS = 3.0
"""A claimed mean further than this many measured stds (or ``FAR_RANGE_FRACTION``) from the measurement is flagged."""
FAR_RANGE_FRACTION = 0.05
"""... or further than this fraction of the env's return range, whichever is larger."""


def score(mean: float | None, std: float | None) -> float | None:
    """The leaderboard's score, ``mean - std``; None when either is unknown."""
    return None if mean is None or std is None else mean - std


def pass_mark(env_id: str | None) -> float | None:
    """The course pass mark (mean - std must reach it) for ``env_id``; None where the course sets none."""
    info = ENVS.get(env_id or "")
    return info.pass_mark if info else None


def passes(env_id: str | None, value: float | None) -> bool | None:
    """The course pass mark met by a score? None where the course sets none or the score is unknown."""
    mark = pass_mark(env_id)
    return None if mark is None or value is None else value >= mark


class ScoredRecord:
    """Base of the ranking records: score, pass mark and passes from one (mean, std), and JSON from the fields.

    ``to_json`` is every dataclass field (nested records as their own JSON, values JSON cannot hold as their repr)
    plus the computed values named in ``COMPUTED``.
    """

    COMPUTED: ClassVar[tuple[str, ...]] = ("score", "pass_mark", "passes")
    env_id: str | None

    def _mean_std(self) -> tuple[float | None, float | None]:
        return self.mean, self.std  # type: ignore[attr-defined]

    @property
    def score(self) -> float | None:
        return score(*self._mean_std())

    @property
    def pass_mark(self) -> float | None:
        return pass_mark(self.env_id)

    @property
    def passes(self) -> bool | None:
        """The course pass mark met (mean - std >= mark)? None where the course sets none or the card is unranked."""
        return passes(self.env_id, self.score)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
        out.update((name, getattr(self, name)) for name in self.COMPUTED)
        return out


def _json_value(value: Any) -> Any:
    if isinstance(value, (ScoredRecord, Problem)):
        return value.to_json()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, (str, int, float, list, dict, type(None))):
        return value
    return repr(value)  # e.g. a date the card's YAML parsed


def impossible_claims(env_id: str, mean: float | None, std: float | None) -> list[str]:
    """Claims no agent can achieve on ``env_id`` within the course episode cap (empty outside the course envs)."""
    info = ENVS.get(env_id)
    if info is None or info.return_range is None or mean is None:
        return []
    flags = []
    if mean > info.max_return + 1e-6:
        flags.append(f"impossible: claimed mean {mean:.2f} exceeds the best possible return {info.max_return:g} "
                     f"on {env_id} (episodes are capped at {info.max_t} steps)")
    if mean < info.min_return - 1e-6:
        flags.append(f"impossible: claimed mean {mean:.2f} is below the lowest possible return {info.min_return:g}")
    if std is not None and std < 0:
        flags.append(f"impossible: claimed std {std:.2f} is negative")
    elif std is not None and std > (info.max_return - info.min_return) / 2 + 1e-6:
        flags.append(f"impossible: claimed std {std:.2f} exceeds half the return range "
                     f"({(info.max_return - info.min_return) / 2:g})")
    return flags


def claim_tolerance(env_id: str, measured_std: float, measured_mean: float = 0.0) -> float:
    """How far a claimed mean may sit from the measured mean: max(3 * measured std, 5% of the return range), the
    range being, outside the course envs, the measured mean's magnitude (at least 1)."""
    info = ENVS.get(env_id)
    span = info.return_range if info is not None else None
    if span is None:
        span = max(abs(measured_mean), 1.0)
    return max(FAR_STDS * measured_std, FAR_RANGE_FRACTION * span)


def judge_claim(env_id: str, claimed_mean: float | None, claimed_std: float | None,
                measured_mean: float, measured_std: float) -> list[str]:
    """Flags for a claim next to a measurement: impossible ones, and a mean far outside the measured range."""
    flags = impossible_claims(env_id, claimed_mean, claimed_std)
    if claimed_mean is not None:
        tolerance = claim_tolerance(env_id, measured_std, measured_mean)
        if abs(claimed_mean - measured_mean) > tolerance + 1e-9:
            flags.append(f"claimed mean {claimed_mean:.2f} is far outside the measured range "
                         f"{measured_mean:.2f} +/- {tolerance:.2f} (max(3 x measured std, 5% of the return range))")
    return flags


HUB = "the Hub"
"""``Verification.checked_by`` of the local Hub's own checks (:mod:`hubrl.server.verifier`)."""


@dataclass
class Verification(ScoredRecord):
    """hubrl's re-evaluation of one agent, next to what its card claims."""

    COMPUTED: ClassVar[tuple[str, ...]] = ("verdict", "score", "passes")

    repo_id: str
    env_id: str
    claimed_mean: float | None = None
    claimed_std: float | None = None
    error: str | None = None
    """Why the agent could not be loaded or evaluated (None: it was)."""
    format: str | None = None
    mean_reward: float | None = None
    std_reward: float | None = None
    n_episodes: int = 0
    seed: int = VERIFY_SEED
    seeds: list[int] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    max_steps: int | None = None
    flags: list[str] = field(default_factory=list)
    """Why the claim is not credible (impossible, or far outside the measured range); empty: consistent."""
    commit: str | None = None
    """The commit checked (the local Hub's verifier keys its verdicts by it)."""
    checked_by: str = "this run"
    """Who ran the check: ``this run`` (``--verify`` in this process) or ``the Hub`` (the local Hub's verifier)."""
    playable: bool = True
    """False: this machine cannot play the env (not installed, not registered); ``error`` says why."""

    def _mean_std(self) -> tuple[float | None, float | None]:
        return self.mean_reward, self.std_reward

    @classmethod
    def from_json(cls, data: Any) -> Verification:
        """A verification from its :meth:`to_json` (the computed values are recomputed, not read).

        Raises:
            ValueError: not a verification record (a field missing or of the wrong type).
        """
        if not isinstance(data, dict) or not isinstance(data.get("repo_id"), str) \
                or not isinstance(data.get("env_id"), str):
            raise ValueError("not a verification record")
        out = cls(repo_id=data["repo_id"], env_id=data["env_id"])
        numbers = ("claimed_mean", "claimed_std", "mean_reward", "std_reward")
        for name in numbers:
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{name} is not a number")
            setattr(out, name, None if value is None else float(value))
        for name in ("error", "format", "commit", "checked_by"):
            value = data.get(name, getattr(out, name))
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} is not text")
            setattr(out, name, value)
        for name, kind in (("n_episodes", int), ("seed", int), ("max_steps", (int, type(None)))):
            value = data.get(name, getattr(out, name))
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"{name} is not a whole number")
            setattr(out, name, value)
        for name, kind in (("seeds", int), ("episode_returns", (int, float)), ("flags", str)):
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
                raise ValueError(f"{name} is not a list")
            setattr(out, name, list(value))
        playable = data.get("playable", True)
        if not isinstance(playable, bool):
            raise ValueError("playable is not true or false")
        out.playable = playable
        return out

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def verdict(self) -> str:
        """``unverifiable`` (hubrl cannot play the env here), ``error`` (not loadable or not playable by hubrl),
        ``flagged`` (claim not credible) or ``consistent``."""
        if not self.playable:
            return "unverifiable"
        return "error" if self.error else ("flagged" if self.flags else "consistent")

    def record(self) -> dict[str, Any]:
        """What goes under ``hubrl_verification`` in results.json."""
        from hubrl import __version__

        return {
            "mean_reward": self.mean_reward, "std_reward": self.std_reward, "score": self.score,
            "n_episodes": self.n_episodes, "seed": self.seed, "seeds": self.seeds,
            "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
            "hubrl_version": __version__, "episode_returns": self.episode_returns, "max_steps": self.max_steps,
            "deterministic": False,
            "claimed": None if self.claimed_mean is None else format_metric(self.claimed_mean, self.claimed_std or 0.0),
            "flags": self.flags,
        }


# -- the claim -------------------------------------------------------------------------------------------------------

ENV_SOURCES = ("model-index", "results.json", "hyperparameters.json", "config.json", "tags")
"""Where a repo's env id is read, in this order (see the module docstring)."""
UNRANKED = frozenset({"no-card", "front-matter", "no-model-index", "no-result", "no-metrics", "no-metric-value",
                      "metric-unparseable", "other-env"})
"""Problems that keep a claim off the ranking (the others are shown beside its rank)."""


@dataclass
class Claim(ScoredRecord):
    """What one repo claims at one commit, read once from its card and files (:func:`read_claim`).

    The leaderboard (CLI and page), ``hubrl submit``, the progress page and the loader all read repos through it, so
    they agree on its env, its numbers, its rank and its problems.
    """

    COMPUTED: ClassVar[tuple[str, ...]] = ("score", "pass_mark", "passes", "verification_state", "flags")

    repo_id: str
    env_id: str | None
    env_source: str | None = None
    """Which of :data:`ENV_SOURCES` named the env."""
    metric_value: Any = None
    """The first metric's raw value, e.g. ``"500.00 +/- 0.00"``, ``500`` or ``"abc"``."""
    mean: float | None = None
    std: float | None = None
    problems: list[Problem] = field(default_factory=list)
    rank: int | None = None
    """1 = best among the claims :func:`rank` ordered; None: not ranked (see :attr:`unranked_reason`)."""
    tags: list[str] = field(default_factory=list)
    private: bool | None = None
    sha: str | None = None
    last_modified: str | None = None
    self_reported: str | None = None
    """What the repo says about its own verification, as text (never shown as verified)."""
    verification: Verification | None = None
    """A check hubrl ran itself (this process, or the local Hub's verifier), for this commit."""

    @property
    def flags(self) -> list[str]:
        """The impossible claims found without running anything, and the verification's flags."""
        found = [p.message for p in self.problems if p.code == "impossible"]
        if self.verification is not None and self.verification.ok:
            found += [f for f in self.verification.flags if f not in found]
        return found

    @property
    def rankable(self) -> bool:
        return self.score is not None and not any(p.code in UNRANKED for p in self.problems)

    @property
    def unranked_reason(self) -> str | None:
        """Why the leaderboard cannot rank this claim (None when it can)."""
        if self.rankable:
            return None
        blocking = [p for p in self.problems if p.code in UNRANKED]
        return blocking[0].message if blocking else "no claim the leaderboard can parse"

    parse_error = unranked_reason

    @property
    def would_appear(self) -> bool:
        """Listed and ranked by the course leaderboard: public, tagged with its env id, a parseable claim."""
        return bool(self.env_id and self.env_id in self.tags and self.rankable and not self.private)

    @property
    def verification_state(self) -> str:
        """``verified`` (hubrl measured it and the claim holds), ``flagged`` (hubrl measured it and it does not),
        ``error`` (hubrl could not load or play it), ``self-reported`` (only the repo says so), ``unverified``."""
        if self.verification is not None and self.verification.verdict != "unverifiable":
            return {"consistent": "verified", "flagged": "flagged", "error": "error"}[self.verification.verdict]
        return "self-reported" if self.self_reported else "unverified"

    def verification_text(self) -> str:
        """One line for people: what was checked, by whom, with the measured numbers."""
        v = self.verification
        if v is not None:
            by = f" by {HUB}" if v.checked_by == HUB else ""
            if not v.playable:
                return f"{HUB if by else 'hubrl'} cannot verify it here: {v.error}"
            if v.error:
                return f"{HUB if by else 'hubrl'} could not verify it: {v.error}"
            measured = format_metric(v.mean_reward, v.std_reward)
            return f"{'flagged' if v.flags else 'verified'}{by} (hubrl measured {measured})"
        if self.self_reported:
            return f"self-reported: {self.self_reported}"
        return "not verified"

    def with_verification(self, verification: Verification | None) -> Claim:
        """The same claim with hubrl's own check attached (the claim itself is shared, e.g. from a cache)."""
        from dataclasses import replace

        return replace(self, verification=verification)


def read_claim(
    repo_id: str,
    *,
    metadata: Any = None,
    card_error: str | None = None,
    has_card: bool = True,
    results: Any = None,
    hyperparameters: Any = None,
    config: Any = None,
    private: bool | None = None,
    sha: str | None = None,
    last_modified: str | None = None,
    board: str | None = None,
) -> Claim:
    """The one reading of a repo: its env (by :data:`ENV_SOURCES`), its claim as the leaderboard reads it, and every
    problem. Every argument is someone else's data: any JSON value is accepted and judged, nothing raises.

    Args:
        repo_id: ``namespace/name``.
        metadata: the card's YAML metadata (:func:`hubrl.card.read_front_matter`); None without a card or front matter.
        card_error: why the front matter could not be read, when it could not.
        has_card: whether the repo has a README.md at all.
        results, hyperparameters, config: the parsed JSON files, None where absent.
        private, sha, last_modified: what the Hub says of the repo.
        board: the env of the leaderboard asking; a claim about another env is listed there unranked.

    Example:
        >>> claim = read_claim("alice/x", metadata={"tags": ["CartPole-v1"], "model-index": [...]})
        >>> claim.env_id, claim.score, [p.code for p in claim.problems]
    """
    meta = metadata if isinstance(metadata, dict) else {}
    named = env_sources(meta, results, hyperparameters, config)
    env_source, env_id = named[0] if named else (None, None)
    raw_tags = meta.get("tags")
    tags = [str(t) for t in raw_tags if isinstance(t, (str, int, float))] if isinstance(raw_tags, list) else (
        [str(raw_tags)] if isinstance(raw_tags, str) else [])
    claim = Claim(repo_id=repo_id, env_id=env_id, env_source=env_source, tags=tags, private=private, sha=sha,
                  last_modified=last_modified)
    problems: list[Problem] = []
    if private:
        problems.append(Problem("private", "the repo is private; the leaderboard lists public models only: make it "
                                "public (HfApi().update_repo_settings(repo_id, private=False) or the repo's Settings "
                                "page)"))
    if not has_card:
        problems.append(Problem("no-card", "the repo has no README.md; the leaderboard reads the model card's "
                                "metadata (hubrl submit --fix writes one)", fixable=True))
    elif card_error:
        problems.append(Problem("front-matter", f"{card_error}; hubrl submit --fix rewrites the metadata block",
                                fixable=True))
    if env_id is None:
        problems.append(Problem("no-env", "cannot tell which environment this model plays: neither the card nor "
                                "results.json/hyperparameters.json names it; add env_id to results.json"))
    if has_card and not card_error:
        problems += metadata_problems(meta, env_id)
    others = {src: env for src, env in named if env != env_id}
    if others:
        problems.append(Problem("env-mismatch", f"the repo's files name different envs: {env_id} ({env_source}), "
                                + ", ".join(f"{env} ({src})" for src, env in others.items())
                                + "; make them agree (the leaderboard ranks the model-index's)"))
    found, value = first_metric(meta)
    if found:
        claim.metric_value = value
        parsed = parse_metric(value)
        if parsed is not None:
            claim.mean, claim.std = parsed
            problems += [Problem("impossible", flag) for flag in impossible_claims(env_id or "", *parsed)]
    if board is not None and env_id is not None and env_id != board:
        problems.append(Problem("other-env", f"the card's claim is about {env_id}, not {board}"))
    claim.problems = list({p.message: p for p in problems}.values())
    claim.self_reported = _self_reported(meta, results)
    return claim


def env_sources(metadata: dict, results: Any, hyperparameters: Any, config: Any) -> list[tuple[str, str]]:
    """Every (source, env id) a repo's files name, in :data:`ENV_SOURCES` order."""
    found: list[tuple[str, str]] = []
    try:
        dataset = metadata["model-index"][0]["results"][0]["dataset"]
        env = next((dataset[k] for k in ("type", "name") if isinstance(dataset.get(k), str) and dataset[k]), None)
        if env:
            found.append(("model-index", env))
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    for source, data in (("results.json", results), ("hyperparameters.json", hyperparameters),
                         ("config.json", config)):
        env = _env_in(data, 0)
        if env:
            found.append((source, env))
    tags = metadata.get("tags") if isinstance(metadata.get("tags"), list) else []
    tag = next((t for t in tags if isinstance(t, str) and t in ENVS), None)
    if tag:
        found.append(("tags", tag))
    return [(src, env[:200]) for src, env in found]


def _env_in(data: Any, depth: int) -> str | None:
    """``env_id`` at the top, else in nested (hydra-style) sections: ``env_id``, ``env: NAME``, ``env: {id: ...}``."""
    if not isinstance(data, dict) or depth > 3:
        return None
    for key in ("env_id", "env_name", "environment"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    env = data.get("env")
    if isinstance(env, str) and env:
        return env
    if isinstance(env, dict):
        for key in ("id", "env_id", "name"):
            if isinstance(env.get(key), str) and env[key]:
                return env[key]
    for value in list(data.values())[:64]:
        found = _env_in(value, depth + 1)
        if found:
            return found
    return None


def _self_reported(metadata: dict, results: Any) -> str | None:
    """What a repo says of its own verification: a ``hubrl_verification`` record, a card metric ``verified: true``."""
    parts = []
    record = results.get(VERIFICATION_KEY) if isinstance(results, dict) else None
    if isinstance(record, dict):
        try:
            measured = format_metric(float(record["mean_reward"]), float(record["std_reward"]))
        except (KeyError, TypeError, ValueError):
            measured = "unreadable numbers"
        parts.append(f"results.json says hubrl measured {measured}")
    try:
        if metadata["model-index"][0]["results"][0]["metrics"][0].get("verified") is True:
            parts.append("the card marks its metric verified")
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return "; ".join(parts) or None


def rank(claims: list[Claim], *, board: str | None = None) -> list[Claim]:
    """The leaderboard's order: rankable claims (about ``board``'s env when given) best score first, then higher mean,
    then repo id, numbered 1..; then the unranked ones by repo id (``rank`` None). The one tie-break in hubrl.

    Example:
        >>> [c.repo_id for c in rank(claims, board="CartPole-v1")]
    """
    def eligible(c: Claim) -> bool:
        return c.rankable and (board is None or c.env_id == board)

    ranked = sorted((c for c in claims if eligible(c)), key=lambda c: (-c.score, -c.mean, c.repo_id))
    for i, claim in enumerate(ranked, 1):
        claim.rank = i
    unranked = sorted((c for c in claims if not eligible(c)), key=lambda c: c.repo_id)
    for claim in unranked:
        claim.rank = None
    return ranked + unranked


def rank_of(claim: Claim, among: list[Claim]) -> tuple[int, int]:
    """(rank, how many ranked) ``claim`` takes among ``among`` (its own earlier entry replaced), by :func:`rank`."""
    others = [c for c in among if c.repo_id != claim.repo_id]
    probe = replace_rank(claim)
    ranked = [c for c in rank([*(replace_rank(c) for c in others), probe], board=claim.env_id) if c.rank is not None]
    return (probe.rank or 0), len(ranked)


def replace_rank(claim: Claim) -> Claim:
    from dataclasses import replace

    return replace(claim, rank=None)
