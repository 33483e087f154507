"""`hubrl demo`: the whole story offline, as the README's first command runs it."""

import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_offline_end_to_end(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HOME": str(tmp_path / "hf"),
           "SDL_VIDEODRIVER": "dummy"}
    env.pop("HF_ENDPOINT", None)
    env.pop("HF_TOKEN", None)
    proc = subprocess.run([sys.executable, "-m", "hubrl.cli", "demo", "--quiet"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in ("1/5 local Hub running at http://127.0.0.1:", "3/5 pushing to student/Reinforce-CartPole-v1",
                 "4/5 as classmate", "identical to the numbers in the pushed results.json", "5/5 leaderboard"):
        assert step in out, out
    assert "1  student/Reinforce-CartPole-v1    500.00      0.00    500.00  yes" in out
    assert "hf_" not in out + proc.stderr  # tokens are never printed
    assert not (tmp_path / "runs").exists()  # the demo works in a temporary folder and cleans it up
