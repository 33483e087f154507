"""hubrl: train, evaluate, record and share REINFORCE agents on the Hugging Face Hub.

The public API keeps the Deep RL Course's names::

    from hubrl import make_config, train, evaluate_agent, record_video, push_to_hub, load_from_hub

Importing hubrl registers its environments with gymnasium (``Pixelcopter-PLE-v0``, ``Pong-PLE-v0``, ``ALE/...``)
as soon as gymnasium is imported (a post-import hook: ``import hubrl`` itself loads no gymnasium, so the local Hub
and the leaderboard never do). Heavy modules load lazily, so ``import hubrl`` stays cheap; only training
(``train``, ``PolicyNetwork``) imports torch: loading, evaluating and recording agents run on numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

import wrapt

from hubrl.envs import ENVS, env_info, make_env, make_vector_env, register_envs
from hubrl.errors import HubrlError

__version__ = "0.1.0"

_LAZY = {
    "Policy": "hubrl.policy",
    "PolicyConfig": "hubrl.policy",
    "PolicyNetwork": "hubrl.network",
    "load_policy": "hubrl.policy",
    "save_policy": "hubrl.policy",
    "TrainConfig": "hubrl.presets",
    "make_config": "hubrl.presets",
    "PRESETS": "hubrl.presets",
    "train": "hubrl.training",
    "TrainResult": "hubrl.training",
    "evaluate_agent": "hubrl.evaluate",
    "Evaluation": "hubrl.evaluate",
    "record_video": "hubrl.video",
    "build_card": "hubrl.card",
    "parse_metric": "hubrl.card",
    "Agent": "hubrl.records",
    "Run": "hubrl.records",
    "read_run": "hubrl.records",
    "train_run": "hubrl.run",
    "load_run": "hubrl.records",
    "HubClient": "hubrl.hub",
    "push_to_hub": "hubrl.hub",
    "load_from_hub": "hubrl.hub",
    "load_agent": "hubrl.hub",
    "leaderboard": "hubrl.ranking",
    "check_submission": "hubrl.ranking",
}

__all__ = ["ENVS", "HubrlError", "env_info", "make_env", "make_vector_env", "register_envs", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hubrl' has no attribute {name!r}")


# gymnasium knows hubrl's envs from the moment it is imported (at once if it already is).
wrapt.register_post_import_hook(lambda _gymnasium: register_envs(), "gymnasium")
