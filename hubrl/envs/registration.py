"""hubrl's environments in gymnasium's registry: the PLE ports (single and batched) and ale-py's Atari games.

:func:`register_envs` runs when gymnasium is imported after ``import hubrl`` (a post-import hook, see
:mod:`hubrl`), so ``import hubrl`` itself stays free of gymnasium: the local Hub and the leaderboard never load it.
"""

from __future__ import annotations

import gymnasium

_registered = False


def register_envs() -> None:
    """Register hubrl's environments with gymnasium (idempotent).

    ``Pixelcopter-PLE-v0`` and ``Pong-PLE-v0`` get a ``vector_entry_point`` (numpy-batched copies) and no time
    limit, as in the original games; ale-py registers its ``ALE/...`` games.
    """
    global _registered
    if _registered:
        return
    _registered = True
    for env_id, module, cls in (
        ("Pixelcopter-PLE-v0", "hubrl.envs.pixelcopter", "Pixelcopter"),
        ("Pong-PLE-v0", "hubrl.envs.pong", "Pong"),
    ):
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point=f"{module}:{cls}Env",
                vector_entry_point=f"{module}:{cls}VectorEnv",
                max_episode_steps=None,
                disable_env_checker=True,
            )
    try:
        import ale_py
    except ImportError:  # pragma: no cover - ale-py is a dependency; stay usable without it
        return
    gymnasium.register_envs(ale_py)
