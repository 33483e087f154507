"""What the agent observes: the observation spec saved with every policy, typed, validated and bounded.

An agent's ``config.json`` (and a run's ``hyperparameters.json``) keep it under ``env_options``: which observation
an ALE game gives (``obs_mode``: ``frames``, or Pong's ``pixels`` or ``ram``) and which past frames are stacked onto the current one
(``obs_lags``). It changes what the agent *sees*, never the game it is scored on: nothing here reaches
``gymnasium.make``. How the env copies are run (``env_backend``: sync, async, ale-py's native vector env) is an
execution setting of training, kept apart in :class:`hubrl.presets.TrainConfig` and never saved with the agent.

A spec read from someone else's repo is untrusted: only the known keys, only bounded values, one clear line
otherwise (a lag of 10^8 frames would allocate gigabytes at reset). Imports no gymnasium.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubrl.errors import ConfigError

ATARI_OBS_MODES = ("frames", "pixels", "ram")
"""Observations of the ALE games: ``frames`` (any game: DQN's 84x84 grey frames, 4 stacked), or ALE Pong's course-era
two-action pipelines, ``pixels`` (the difference of cropped, binarised frames) and ``ram`` (the 128 bytes / 255)."""
MAX_LAG = 512
"""The furthest past frame an observation may stack (Pixelcopter's preset uses 24)."""
MAX_LAGS = 8
"""How many past frames an observation may stack."""
KEYS = ("obs_mode", "obs_lags")


@dataclass(frozen=True, eq=False)
class ObservationSpec(Mapping):
    """What the agent observes on top of the env's own observation.

    It reads as the ``env_options`` mapping it is saved as (``spec["obs_lags"]``, ``**spec``), holding only what is
    set.

    Example:
        >>> ObservationSpec.from_json({"obs_lags": [6, 12, 24]}, family="ple").to_json()
        {'obs_lags': [6, 12, 24]}
    """

    obs_mode: str | None = None
    """ALE games only: one of :data:`ATARI_OBS_MODES` (None: not an ALE game)."""
    obs_lags: tuple[int, ...] = ()
    """Append the observations of that many frames ago (sorted, distinct, 1..:data:`MAX_LAG`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "obs_lags", check_lags(self.obs_lags) if self.obs_lags else ())
        if self.obs_mode is not None and self.obs_mode not in ATARI_OBS_MODES:
            raise ConfigError(f"unknown obs_mode {self.obs_mode!r}; choose one of: {', '.join(ATARI_OBS_MODES)}")

    @classmethod
    def from_json(cls, data: Any, *, family: str | None = None) -> ObservationSpec:
        """A spec from ``env_options`` as saved (a mapping with known keys only); ``family`` checks ``obs_mode``.

        Raises:
            ConfigError: not a mapping, an unknown key (an execution setting such as ``workers`` included), or a
                value out of bounds; one line naming it.
        """
        if isinstance(data, ObservationSpec):
            spec = data
        else:
            if data is None:
                data = {}
            if not isinstance(data, Mapping):
                raise ConfigError(f"env_options must be a mapping such as {{\"obs_lags\": [6, 12, 24]}}, "
                                  f"got {type(data).__name__}")
            unknown = sorted(str(k)[:40] for k in data if k not in KEYS)
            if unknown:
                raise ConfigError(f"unknown env option(s) {', '.join(map(repr, unknown))}; env_options holds only "
                                  f"what the agent observes ({', '.join(KEYS)})")
            mode = data.get("obs_mode")
            if mode is not None and not isinstance(mode, str):
                raise ConfigError(f"obs_mode must be one of {', '.join(ATARI_OBS_MODES)}, got {mode!r:.40}")
            lags = data.get("obs_lags")
            spec = cls(obs_mode=mode, obs_lags=() if lags is None else check_lags(lags))
        if family is not None:
            spec.check_family(family)
        return spec

    def check_family(self, family: str) -> None:
        """``obs_mode`` is for ALE games only, and they need one."""
        if family == "atari" and self.obs_mode is None:
            raise ConfigError(f"ALE games need obs_mode, one of: {', '.join(ATARI_OBS_MODES)}")
        if family != "atari" and self.obs_mode is not None:
            raise ConfigError("obs_mode is for ALE games only; this env takes obs_lags at most")

    def to_json(self) -> dict[str, Any]:
        """``env_options`` as saved: only what is set (an empty spec is ``{}``)."""
        out: dict[str, Any] = {}
        if self.obs_mode is not None:
            out["obs_mode"] = self.obs_mode
        if self.obs_lags:
            out["obs_lags"] = list(self.obs_lags)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())

    def __eq__(self, other: object) -> bool:
        """Equal to another spec or to the ``env_options`` mapping it is saved as."""
        return isinstance(other, Mapping) and self.to_json() == dict(other)

    def __hash__(self) -> int:
        return hash((self.obs_mode, self.obs_lags))


def check_lags(lags: Any) -> tuple[int, ...]:
    """The lags as a sorted tuple of distinct ints in 1..:data:`MAX_LAG` (at most :data:`MAX_LAGS`), or one line."""
    if isinstance(lags, (int, str, bytes)) or not isinstance(lags, Sequence) or not lags:
        raise ConfigError(f"obs_lags must be a non-empty list of positive frame counts, e.g. [6, 12, 24]; "
                          f"got {lags!r:.60}")
    if len(lags) > MAX_LAGS:
        raise ConfigError(f"obs_lags holds {len(lags)} lags; at most {MAX_LAGS} are allowed")
    if any(not isinstance(k, int) or isinstance(k, bool) or not 0 < k <= MAX_LAG for k in lags) \
            or len(set(lags)) != len(lags):
        raise ConfigError(f"obs_lags must be distinct whole numbers of frames from 1 to {MAX_LAG}, e.g. [6, 12, 24]; "
                          f"got {list(lags)!r:.60}")
    return tuple(sorted(lags))
