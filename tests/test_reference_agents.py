"""The reference agents under model_cards/reference/ re-evaluate to exactly the numbers their results.json records.

This pins the evaluation path bit for bit (policy sampler, seeding, env dynamics): a change that alters a published
agent's numbers fails here.
"""

import json
from pathlib import Path

import pytest

from hubrl.evaluate import evaluate_agent
from hubrl.records import load_run

REFERENCE = Path(__file__).resolve().parents[1] / "model_cards" / "reference"
FOLDERS = sorted(p for p in REFERENCE.iterdir() if (p / "results.json").exists())


def test_reference_agents_exist():
    assert {p.name for p in FOLDERS} >= {"CartPole-v1", "Pixelcopter-PLE-v0", "Pong-PLE-v0"}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_reference_agent_reproduces_its_results(folder: Path):
    results = json.loads((folder / "results.json").read_text())
    agent = load_run(folder)
    evaluation = evaluate_agent(agent.policy, n_eval_episodes=results["n_evaluation_episodes"], seed=results["seeds"][0],
                                deterministic=results.get("deterministic", False))
    assert evaluation.seeds == results["seeds"]
    assert evaluation.episode_returns == results["episode_returns"]
    assert (evaluation.mean_reward, evaluation.std_reward) == (results["mean_reward"], results["std_reward"])
