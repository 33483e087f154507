"""What hubrl knows about an environment, by id: the one owner of env facts, importable without gymnasium.

The course's facts (episode cap ``max_t``, pass mark, the reachable return range that tells an impossible claim) are
hubrl's own table, :data:`ENVS`; they are what the leaderboard, the pages, evaluation and verification agree on.
This module imports no gymnasium, torch or ale_py, so the local Hub's pages and the leaderboard can rank and judge
claims on a machine that cannot play the games.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from hubrl.errors import UnknownEnvError


@dataclass(frozen=True)
class EnvInfo:
    """Facts about one environment that training, evaluation and the leaderboard share."""

    env_id: str
    max_t: int
    """Course episode cap (``max_t``): evaluation and training stop an episode after this many steps."""
    max_return: float
    """Highest return reachable within ``max_t`` steps; a claimed mean above it is impossible."""
    min_return: float
    """Lowest return reachable (used to sanity check claims)."""
    pass_mark: float | None = None
    """Course certification threshold on mean - std, where the course sets one."""
    family: str = "classic"
    """``classic`` (gymnasium's own), ``ple`` (hubrl's ports of the PLE games) or ``atari`` (ale-py)."""

    @property
    def return_range(self) -> float:
        """``max_return - min_return``: the scale on which claims are judged."""
        return self.max_return - self.min_return


ENVS: dict[str, EnvInfo] = {
    info.env_id: info
    for info in (
        EnvInfo("CartPole-v1", max_t=1000, max_return=500.0, min_return=1.0, pass_mark=350.0),
        # One slice leaves the screen every 6.25 frames (+1) and a block is passed every 50+ frames (+1):
        # over 10000 frames that is at most 1600 + 200.
        EnvInfo("Pixelcopter-PLE-v0", max_t=10000, max_return=1800.0, min_return=-5.0, pass_mark=5.0, family="ple"),
        EnvInfo("Pong-PLE-v0", max_t=5000, max_return=16.0, min_return=-16.0, family="ple"),
        EnvInfo("ALE/Pong-v5", max_t=27000, max_return=21.0, min_return=-21.0, family="atari"),
    )
}
"""Every environment hubrl knows, by gymnasium id."""

UNIT4_ENVS = ("CartPole-v1", "Pixelcopter-PLE-v0")
"""The environments of the course's Unit 4 certification ("Check my progress")."""


def env_info(env_id: str) -> EnvInfo:
    """The facts of ``env_id``.

    Raises:
        UnknownEnvError: hubrl does not know ``env_id``; the message suggests the id meant when one differs only by
            case or version (``cartpole-v1`` -> ``CartPole-v1``) and lists the known ones.

    Example:
        >>> env_info("CartPole-v1").pass_mark
        350.0
    """
    try:
        return ENVS[env_id]
    except (KeyError, TypeError):
        raise UnknownEnvError(unknown_env_message(env_id)) from None


def unknown_env_message(env_id: object, candidates: Iterable[str] = ()) -> str:
    """One line for an env id hubrl does not know, with a "did you mean" where one is close."""
    known = list(dict.fromkeys([*ENVS, *candidates]))
    guess = did_you_mean(str(env_id), known)
    hint = f"did you mean {guess!r}? " if guess else ""
    return f"unknown environment {env_id!r}; {hint}hubrl knows: {', '.join(ENVS)}"


_VERSION = re.compile(r"-v\d+$", re.IGNORECASE)


def did_you_mean(env_id: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``env_id`` was probably meant to be: the same id in another case, else the same name with another
    version (the newest such); None when there is no such candidate.

    Example:
        >>> did_you_mean("cartpole-v0", ["CartPole-v1", "Pong-PLE-v0"])
        'CartPole-v1'
    """
    candidates = [c for c in candidates if c != env_id]
    for candidate in candidates:
        if candidate.lower() == env_id.lower():
            return candidate
    stem = _VERSION.sub("", env_id).lower()
    same_name = [c for c in candidates if _VERSION.sub("", c).lower() == stem]
    return max(same_name, key=_version_number) if same_name else None


def _version_number(env_id: str) -> int:
    match = _VERSION.search(env_id)
    return int(match.group(0)[2:]) if match else -1
