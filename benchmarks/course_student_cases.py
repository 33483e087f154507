"""The bring-your-own-agent cases, course loop vs hubrl: what a student's notebook measures, what hubrl.course
measures, what it pushes, and what a classmate then measures.

Each case trains the course's Policy with the notebook's own ``reinforce()`` (seeded; CartPole-v1), written the way
a student varies it:

* ``act-rescales``: ``act()`` divides the state by rough scales before ``forward`` (the network learned on them);
* ``wrapped-eval-env``: the notebook's Policy, evaluated on an ``eval_env`` wrapped by the student's observation
  wrapper (trained on the plain env);
* ``max-episode-steps-1000``: env and eval_env made with ``max_episode_steps=1000`` (max_t 1000).

Printed per case (10 evaluation episodes): the notebook's evaluate loop as it runs (unseeded) and seeded as hubrl
seeds it (the yardstick), ``hubrl.course.evaluate_agent``, the numbers ``hubrl.course.push_to_hub`` published on a
local Hub with the weights' format, and what a classmate measures of the pushed repo (the course loop on the loaded
agent, or why it cannot load). Run with another hubrl on ``PYTHONPATH`` for a before/after comparison; trained
weights are cached in ``--cache`` so both runs evaluate the same policies.

Run from the repository root: ``python benchmarks/course_student_cases.py [--episodes 400] [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(1, str(TESTS))

import course_notebook_code  # noqa: E402  (the notebook's reinforce, from tests/)
from course_students import Policy, RescalingPolicy, ScaledObservation, course_loop  # noqa: E402

HYPER = {"h_size": 16, "n_evaluation_episodes": 10, "max_t": 1000, "gamma": 1.0, "lr": 1e-2,
         "env_id": "CartPole-v1", "state_space": 4, "action_space": 2}
CASES = {
    "act-rescales": (RescalingPolicy, lambda: gym.make("CartPole-v1"), lambda: gym.make("CartPole-v1")),
    "wrapped-eval-env": (Policy, lambda: gym.make("CartPole-v1"),
                         lambda: ScaledObservation(gym.make("CartPole-v1"))),
    "max-episode-steps-1000": (Policy, lambda: gym.make("CartPole-v1", max_episode_steps=1000),
                               lambda: gym.make("CartPole-v1", max_episode_steps=1000)),
}


def trained(name: str, episodes: int, cache: Path):
    cls, make_env, _ = CASES[name]
    path = cache / f"{name}-{episodes}.pt"
    torch.manual_seed(0)
    policy = cls()
    if path.exists():
        policy.load_state_dict(torch.load(path, weights_only=True))
        return policy
    course_notebook_code.env = make_env()
    course_notebook_code.env.reset(seed=0)
    course_notebook_code.reinforce(policy, torch.optim.Adam(policy.parameters(), lr=HYPER["lr"]), episodes,
                                   HYPER["max_t"], HYPER["gamma"], 10_000)
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), path)
    return policy


def fmt(pair) -> str:
    return f"{pair[0]:7.2f} +/- {pair[1]:6.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400, help="training episodes per case (default 400)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hubrl-student-cases")
    args = parser.parse_args()

    import hubrl
    from hubrl.course import evaluate_agent, push_to_hub
    from hubrl.hub import HubClient
    from hubrl.server import LocalHub

    print(f"hubrl from {Path(hubrl.__file__).parent}")
    with LocalHub(tempfile.mkdtemp(prefix="hubrl-cases-")) as hub:
        token = hub.create_token("student")
        for name in CASES:
            policy = trained(name, args.episodes, args.cache)
            eval_env = CASES[name][2]
            torch.manual_seed(12345)
            rows = [("course loop, as the notebook runs it (unseeded)",
                     fmt(course_loop(eval_env(), 1000, 10, policy, seeded=False))),
                    ("course loop, seeded as hubrl seeds it", fmt(course_loop(eval_env(), 1000, 10, policy))),
                    ("hubrl.course.evaluate_agent", fmt(evaluate_agent(eval_env(), 1000, 10, policy)))]
            repo = f"student/{name}"
            push_to_hub(repo, policy, dict(HYPER), eval_env(), endpoint=hub.endpoint, token=token,
                        local_dir=Path(tempfile.mkdtemp()) / "run")
            from huggingface_hub import hf_hub_download

            results = json.loads(Path(hf_hub_download(repo, "results.json", endpoint=hub.endpoint,
                                                      cache_dir=tempfile.mkdtemp())).read_text())
            fmt_name = (results.get("weights") or {}).get("format", "?")
            rows.append((f"pushed (weights {fmt_name})", fmt((results["mean_reward"], results["std_reward"]))))
            try:
                agent = HubClient(hub.endpoint, False).load_from_hub(repo, cache_dir=tempfile.mkdtemp())
                torch.manual_seed(12345)
                np.random.seed(0)
                agent.policy.seed(0)
                rows.append(("classmate: course loop on the loaded agent, plain CartPole-v1",
                             fmt(course_loop(gym.make("CartPole-v1"), 1000, 10, agent.policy, seeded=False))))
                measured = hubrl.evaluate_agent(agent.policy, max_steps=1000)
                rows.append(("classmate: hubrl evaluate REPO", fmt((measured.mean_reward, measured.std_reward))))
            except hubrl.HubrlError as err:
                rows.append(("classmate: load_from_hub", f"refused: {str(err)[:110]}"))
            print(f"\n{name} (trained {args.episodes} episodes with the notebook's reinforce, seed 0)")
            for label, value in rows:
                print(f"  {label:<62} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
