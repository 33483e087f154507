"""``hubrl demo``: the whole story on an embedded default, offline.

Start a local Hub in-process on a free loopback port, train CartPole-v1 as user ``student``, evaluate, record, push,
then load the agent back by repo id as user ``classmate``, re-evaluate it, and print the CartPole-v1 leaderboard.
With ``endpoint=`` it runs against any Hub instead (the token then comes from HF_TOKEN or the stored login).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

ENV_ID = "CartPole-v1"


def run_demo(
    *,
    endpoint: str | None = None,
    token: str | None = None,
    data_dir: str | Path | None = None,
    seed: int = 0,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> dict:
    """Run the demo and return what it measured (repo id, pushed and re-measured results, leaderboard rows)."""
    from hubrl.evaluate import evaluate_agent
    from hubrl.hub import HubClient
    from hubrl.ranking import format_table
    from hubrl.run import train_run

    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="hubrl-demo-"))
    hub = None
    try:
        if endpoint is None:
            from hubrl.server import LocalHub

            hub_dir = Path(data_dir) if data_dir else workdir / "hub"
            hub = LocalHub(hub_dir).start()
            endpoint = hub.endpoint
            student_token, classmate_token = hub.create_token("student"), hub.create_token("classmate")
            student = "student"
            say(f"1/5 local Hub running at {endpoint} (data in {hub_dir}); users: student, classmate")
        else:
            student_token = classmate_token = token
            student = HubClient(endpoint, token).whoami()[0]
            say(f"1/5 using the Hub at {endpoint} as {student}")
        repo_id = f"{student}/Reinforce-{ENV_ID}"

        say(f"2/5 training REINFORCE on {ENV_ID} (tuned preset, seed {seed}), then evaluating and recording")
        run = train_run(env_id=ENV_ID, seed=seed, output=workdir / "run", progress=progress)
        results, training = run.results, run.results.training
        say(f"    trained in {training.wall_s:.1f} s, {training.env_steps:,} env steps; evaluation "
            f"{results.mean_reward:.2f} +/- {results.std_reward:.2f} over seeds {results.seeds[0]}.."
            f"{results.seeds[-1]}; run folder with replay.mp4 and model card ready")

        say(f"3/5 pushing to {repo_id} as {student}")
        pushed = HubClient(endpoint, student_token).push_to_hub(run, repo_id,
                             commit_message="hubrl demo: REINFORCE CartPole-v1")
        say(f"    {pushed.summary()}")

        say(f"4/5 as classmate: loading {repo_id} by repo id and re-evaluating it")
        classmate = HubClient(endpoint, classmate_token)
        agent = classmate.load_from_hub(repo_id, cache_dir=workdir / "cache")
        again = evaluate_agent(agent.policy)
        same = again.episode_returns == results.episode_returns
        say(f"    {again.summary()}")
        say(f"    {'identical to' if same else 'DIFFERENT from'} the numbers in the pushed results.json")

        say(f"5/5 leaderboard for {ENV_ID} on {endpoint}")
        rows = classmate.leaderboard(ENV_ID)
        say(format_table(rows, env_id=ENV_ID, endpoint=endpoint))
        say(f"done in {time.perf_counter() - started:.1f} s")
        return {"repo_id": repo_id, "endpoint": endpoint, "results": results.to_json(), "reevaluation": again.to_json(),
                "identical": same, "leaderboard": [row.to_json() for row in rows]}
    finally:
        if hub is not None:
            hub.stop()
        shutil.rmtree(workdir, ignore_errors=True)
