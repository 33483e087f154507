"""What a card claims and whether it can be true: score, pass mark, impossible claims, the verification tolerance,
and the record of a verification (:class:`Verification`, measured by :mod:`hubrl.ranking.verification`).

Pure functions of numbers and card metadata (no I/O), and the one definition of the course's numbers: the score is
``mean - std``, an agent passes when its score reaches the env's pass mark (:attr:`hubrl.envs.EnvInfo.pass_mark`).

Checking claims. Scores on cards are self-reported; hubrl flags them in two ways:

* **impossible** (no agent needed): the claimed mean is above the env's best possible return
  (:attr:`hubrl.envs.EnvInfo.max_return`, e.g. 500 for CartPole-v1's 500-step limit) or below its lowest, or the
  claimed std is negative or larger than half the return range (no set of returns in [min, max] has a larger std).
* **far outside the measured range** (after a verification): a claimed mean with
  ``|claimed mean - measured mean| > max(3 * measured std, 5% of (max_return - min_return))``.
  Three standard deviations of the episode returns is deliberately lenient (the claimed mean is itself an average
  of ~10 episodes); the 5%-of-range floor keeps agents whose measured returns barely vary (a CartPole agent at
  500.00 +/- 0.00) from being flagged over noise: on CartPole-v1 the floor is 24.95.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from hubrl.card import first_metric, format_metric, parse_metric
from hubrl.defaults import VERIFY_SEED
from hubrl.envs import ENVS

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
    if isinstance(value, ScoredRecord):
        return value.to_json()
    if isinstance(value, (str, int, float, list, dict, type(None))):
        return value
    return repr(value)  # e.g. a date the card's YAML parsed


def read_claim(meta: dict | None, error: str | None = None
               ) -> tuple[str | None, Any, tuple[float, float] | None, bool]:
    """(parse error, raw value, (mean, std), hub verified) for a card's metadata, read as the leaderboard does."""
    if meta is None:
        return error or "no card metadata", None, None, False
    if not meta.get("model-index"):
        return "the card has no model-index", None, None, False
    found, value = first_metric(meta)
    if not found:
        return "the model-index has no first metric value", None, None, False
    try:
        verified = bool(meta["model-index"][0]["results"][0]["metrics"][0].get("verified"))
    except (AttributeError, KeyError, IndexError, TypeError):
        verified = False
    parsed = parse_metric(value)
    if parsed is None:
        return f"unparseable metric value {value!r} (expected 'X.XX +/- Y.YY')", value, None, verified
    return None, value, parsed, verified


def impossible_claims(env_id: str, mean: float | None, std: float | None) -> list[str]:
    """Claims no agent can achieve on ``env_id`` within the course episode cap (empty for unknown envs)."""
    info = ENVS.get(env_id)
    if info is None or mean is None:
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


def claim_tolerance(env_id: str, measured_std: float) -> float:
    """How far a claimed mean may sit from the measured mean: max(3 * measured std, 5% of the return range)."""
    info = ENVS.get(env_id)
    span = (info.max_return - info.min_return) if info else 0.0
    return max(FAR_STDS * measured_std, FAR_RANGE_FRACTION * span)


def judge_claim(env_id: str, claimed_mean: float | None, claimed_std: float | None,
                measured_mean: float, measured_std: float) -> list[str]:
    """Flags for a claim next to a measurement: impossible ones, and a mean far outside the measured range."""
    flags = impossible_claims(env_id, claimed_mean, claimed_std)
    if claimed_mean is not None:
        tolerance = claim_tolerance(env_id, measured_std)
        if abs(claimed_mean - measured_mean) > tolerance + 1e-9:
            flags.append(f"claimed mean {claimed_mean:.2f} is far outside the measured range "
                         f"{measured_mean:.2f} +/- {tolerance:.2f} (max(3 x measured std, 5% of the return range))")
    return flags


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

    def _mean_std(self) -> tuple[float | None, float | None]:
        return self.mean_reward, self.std_reward

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def verdict(self) -> str:
        """``error`` (not loadable), ``flagged`` (claim not credible) or ``consistent``."""
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
