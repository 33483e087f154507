"""What hubrl knows about an environment, by id: the one owner of env facts, importable without gymnasium.

Any environment registered with gymnasium has facts: its episode cap (``max_episode_steps``; for ALE games the
frame cap over the frameskip), its ``reward_threshold``, and which package it needs. :func:`env_info` reads them from
gymnasium's registry, importing gymnasium only when called. hubrl's own table, :data:`ENVS`, holds only what hubrl
knows better: the course's episode caps and pass marks, the reachable return range that tells an impossible claim,
and the PLE ports (which gymnasium does not ship). The table is plain Python, so the local Hub's pages and the
leaderboard rank and judge claims on a machine that cannot play the games; for an env outside the table they judge
nothing but the card's own format.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from hubrl.errors import UnknownEnvError

DEFAULT_MAX_T = 10_000
"""Episode cap of a registered env that declares none (no ``max_episode_steps``, no ALE frame cap)."""
FAMILIES = ("classic", "ple", "atari", "other")
"""``classic`` (gymnasium's own envs), ``ple`` (hubrl's ports of the PLE games), ``atari`` (ale-py), ``other``
(another package's env registered with gymnasium)."""

EXTRAS = {"gymnasium.envs.box2d": "box2d", "gymnasium.envs.mujoco": "mujoco", "ale_py": "atari"}
"""Entry-point module -> the hubrl extra that installs what its envs need (``pip install "hubrl[box2d]"``)."""
PACKAGES = {"box2d": "Box2D", "mujoco": "MuJoCo", "atari": "OpenCV (for the Atari frame preprocessing)"}
"""What each extra brings, for messages."""
THIRD_PARTY = {"MiniGrid-": "minigrid", "BabyAI-": "minigrid", "highway-": "highway-env", "merge-": "highway-env",
               "roundabout-": "highway-env", "parking-": "highway-env", "FlappyBird": "flappy-bird-gymnasium",
               "dm_control/": "shimmy[dm-control]"}
"""Id prefixes of envs other packages register -> the package to install (for an id gymnasium does not know)."""


@dataclass(frozen=True)
class EnvInfo:
    """Facts about one environment that training, evaluation and the leaderboard share."""

    env_id: str
    max_t: int
    """Episode cap: evaluation and training stop an episode after this many steps (the course's ``max_t`` for the
    course envs, else gymnasium's ``max_episode_steps``)."""
    max_return: float | None = None
    """Highest return reachable within ``max_t`` steps; a claimed mean above it is impossible (course envs only)."""
    min_return: float | None = None
    """Lowest return reachable (used to sanity check claims; course envs only)."""
    pass_mark: float | None = None
    """Course certification threshold on mean - std, where the course sets one."""
    family: str = "classic"
    """One of :data:`FAMILIES`."""
    max_parameters: int = 1 << 24
    """Most weights a policy for this env may have (configs come from other people's repos). Evaluation steps its 10
    episodes together, one forward pass per step, so a verification costs about ``max_t x max_parameters`` weight
    reads: the caps keep that near a minute of forward passes on a 2-core machine (6.7 ns per weight per step,
    measured with 10 rows) while leaving the course's and hubrl's presets orders of magnitude of room."""
    reward_threshold: float | None = None
    """gymnasium's ``reward_threshold`` (the return at which the env counts as solved), where registered."""
    extra: str | None = None
    """The hubrl extra its envs need (``box2d``, ``mujoco``, ``atari``), None when the base install plays it."""

    @property
    def return_range(self) -> float | None:
        """``max_return - min_return``: the scale on which claims are judged (None outside the course envs)."""
        if self.max_return is None or self.min_return is None:
            return None
        return self.max_return - self.min_return


ENVS: dict[str, EnvInfo] = {
    info.env_id: info
    for info in (
        # Presets: 4 -> 16 or 32 -> 2 (a few hundred weights); 2^23 weights cost 60 ms per step, 30 s per 500 steps.
        EnvInfo("CartPole-v1", max_t=1000, max_return=500.0, min_return=1.0, pass_mark=350.0,
                max_parameters=1 << 23),
        # One slice leaves the screen every 6.25 frames (+1) and a block is passed every 50+ frames (+1):
        # over 10000 frames that is at most 1600 + 200.
        # Presets: 28 -> 64 -> 64 -> 2 and the course's 7 -> 64 -> 128 -> 2 (under 10k weights).
        EnvInfo("Pixelcopter-PLE-v0", max_t=10000, max_return=1800.0, min_return=-5.0, pass_mark=5.0, family="ple",
                max_parameters=1 << 20),
        EnvInfo("Pong-PLE-v0", max_t=5000, max_return=16.0, min_return=-16.0, family="ple", max_parameters=1 << 21),
        # Pixels are 6400 inputs: the tuned preset's 6400 -> 200 -> 2 has 1.28M weights.
        EnvInfo("ALE/Pong-v5", max_t=27000, max_return=21.0, min_return=-21.0, family="atari",
                max_parameters=1 << 22),
    )
}
"""The course's environments: hubrl's own facts (caps, pass marks, return ranges), read without gymnasium."""

UNIT4_ENVS = ("CartPole-v1", "Pixelcopter-PLE-v0")
"""The environments of the course's Unit 4 certification ("Check my progress")."""


def env_info(env_id: str) -> EnvInfo:
    """The facts of ``env_id``: hubrl's table for the course envs, gymnasium's registry for every other one.

    Raises:
        UnknownEnvError: gymnasium has no env of that id (nor hubrl's table); the message suggests the id meant when
            one differs only by case or version (``cartpole-v1`` -> ``CartPole-v1``), or names the package that
            registers it (``MiniGrid-...`` -> ``pip install minigrid``).

    Example:
        >>> env_info("CartPole-v1").pass_mark
        350.0
        >>> env_info("Acrobot-v1").max_t, env_info("Acrobot-v1").reward_threshold
        (500, -100.0)
    """
    if not isinstance(env_id, str) or not 0 < len(env_id) <= 200:
        raise UnknownEnvError(unknown_env_message(env_id))
    known = ENVS.get(env_id)
    registered = _registry_info(env_id)
    if registered is None:
        if known is not None:
            return known
        raise UnknownEnvError(unknown_env_message(env_id, _registry_ids()))
    if known is not None:  # hubrl knows better: the course's cap, pass mark and return range
        return replace(known, reward_threshold=registered.reward_threshold, extra=registered.extra)
    return registered


@functools.lru_cache(maxsize=256)
def _registry_info(env_id: str) -> EnvInfo | None:
    """The registry's facts for ``env_id``; None when gymnasium is not installed or does not know the id."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a dependency; the facts table still answers
        return None
    from hubrl.envs.registration import register_envs

    register_envs()
    # The registry itself, by exact id: gymnasium.spec() would import the module of a "module:Env-v0" id (ids come
    # from other people's cards) and guess versions.
    spec = gymnasium.registry.get(env_id) if ":" not in env_id else None
    if spec is None:
        return None
    entry = spec.entry_point if isinstance(spec.entry_point, str) else getattr(spec.entry_point, "__module__", "")
    family = "atari" if entry.startswith("ale_py") else "classic" if entry.startswith("gymnasium.envs") else (
        "ple" if entry.startswith("hubrl.envs") else "other")
    max_t = spec.max_episode_steps
    if max_t is None and family == "atari":
        frames, skip = spec.kwargs.get("max_num_frames_per_episode"), spec.kwargs.get("frameskip", 4)
        if isinstance(frames, int) and frames > 0 and isinstance(skip, int) and skip > 0:
            max_t = frames // skip
    threshold = spec.reward_threshold
    extra = next((name for prefix, name in EXTRAS.items() if entry.startswith(prefix)), None)
    return EnvInfo(env_id, max_t=int(max_t or DEFAULT_MAX_T), family=family, extra=extra,
                   reward_threshold=float(threshold) if threshold is not None else None)


def _registry_ids() -> list[str]:
    try:
        import gymnasium
    except ImportError:  # pragma: no cover
        return []
    return list(gymnasium.registry)


def install_hint(env_id: str, extra: str | None = None) -> str:
    """What to install to play ``env_id``: a hubrl extra (``pip install "hubrl[box2d]"``) or another package."""
    if extra:
        return f'pip install "hubrl[{extra}]"'
    package = next((p for prefix, p in THIRD_PARTY.items() if env_id.startswith(prefix)), None)
    return f"pip install {package}" if package else ""


def unknown_env_message(env_id: object, candidates: Iterable[str] = ()) -> str:
    """One line for an env id nobody registered, with a "did you mean" where one is close, or the package to
    install where the id names one."""
    known = list(dict.fromkeys([*ENVS, *candidates]))
    text = str(env_id)[:200]
    guess = did_you_mean(text, known)
    if guess:
        return f"unknown environment {text!r}; did you mean {guess!r}?"
    hint = install_hint(text)
    if hint:
        return (f"unknown environment {text!r}: the package that registers it is not installed here ({hint}, "
                f"then import it before hubrl plays it)")
    return (f"unknown environment {text!r}; hubrl plays any environment registered with gymnasium "
            f"(gymnasium.pprint_registry() lists them), e.g. {', '.join(ENVS)}, Acrobot-v1, ALE/Breakout-v5")


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
