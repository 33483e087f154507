"""`hubrl train / evaluate / record` end to end, as a user runs them (real subprocesses), and bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import pytest
from huggingface_hub import ModelCard

from hubrl.card import card_problems, parse_metric

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "SDL_VIDEODRIVER": "dummy"}


def hubrl(*args, cwd=None, check=True, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "hubrl.cli", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hubrl {args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cartpole"
    hubrl("train", "CartPole-v1", "--output", out, "--quiet")
    return out


def test_train_writes_a_complete_run_folder(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.safetensors", "config.json", "hyperparameters.json", "results.json", "replay.mp4",
            "training_curve.png", "README.md"} <= names
    assert not any(n.endswith((".pt", ".pkl", ".pickle")) for n in names)
    assert not any(p.name.startswith(".") for p in run_dir.parent.iterdir())  # no staging left behind
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in run_dir.rglob("*") if p.is_file()}
    assert set(modes.values()) == {"0o644"}, modes  # the weights too (safetensors creates them 0600)
    hyper = json.loads((run_dir / "hyperparameters.json").read_text())
    for key in ("env_id", "h_size", "n_training_episodes", "n_evaluation_episodes", "max_t", "gamma", "lr",
                "state_space", "action_space"):
        assert key in hyper, key
    assert (hyper["state_space"], hyper["action_space"]) == (4, 2)
    results = json.loads((run_dir / "results.json").read_text())
    for key in ("env_id", "mean_reward", "n_evaluation_episodes", "eval_datetime", "std_reward", "score", "seeds",
                "episode_returns", "deterministic", "package_versions", "weights_sha256"):
        assert key in results, key
    assert results["seeds"] == list(range(10))
    assert results["mean_reward"] == 500.0 and results["std_reward"] == 0.0


def test_card_parses_back_with_leaderboard_metadata(run_dir):
    card = ModelCard.load(run_dir / "README.md")
    data = card.data.to_dict()
    assert data["tags"] == ["CartPole-v1", "reinforce", "reinforcement-learning", "custom-implementation",
                            "deep-rl-class"]
    result = data["model-index"][0]["results"][0]
    assert result["task"] == {"type": "reinforcement-learning", "name": "reinforcement-learning"}
    assert result["dataset"] == {"name": "CartPole-v1", "type": "CartPole-v1"}
    metric = result["metrics"][0]
    assert metric["type"] == "mean_reward" and metric["value"] == "500.00 +/- 0.00"
    assert parse_metric(metric["value"]) == (500.0, 0.0)
    assert card_problems(card) == []
    assert "replay.mp4" in card.text and "training_curve.png" in card.text and "seed" in card.text


def test_video_decodes(run_dir):
    frames = list(iio.imiter(run_dir / "replay.mp4", plugin="FFMPEG"))
    assert len(frames) > 100 and frames[0].shape[0] % 16 == 0 and frames[0].shape[1] % 16 == 0


def test_evaluate_reproduces_results_json(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    out = json.loads(hubrl("evaluate", run_dir, "--json").stdout)
    assert out["episode_returns"] == results["episode_returns"]
    assert out["seeds"] == results["seeds"] and out["n_evaluation_episodes"] == 10
    assert {"mean_reward", "std_reward", "score"} <= set(out)


def test_record_cli(run_dir, tmp_path):
    out = tmp_path / "r.mp4"
    proc = hubrl("record", run_dir, "--output", out, "--max-frames", "60", "--seed", "4")
    assert "60 frames" in proc.stdout
    assert len(list(iio.imiter(out, plugin="FFMPEG"))) == 60
    again = hubrl("record", run_dir, "--output", out, check=False)
    assert again.returncode != 0 and "--overwrite" in again.stderr


def test_same_seed_same_weights_through_the_cli(run_dir, tmp_path):
    again = tmp_path / "again"
    hubrl("train", "CartPole-v1", "--output", again, "--quiet", "--no-video")
    assert (again / "model.safetensors").read_bytes() == (run_dir / "model.safetensors").read_bytes()


def one_line_error(proc):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hubrl: error:"), proc.stderr
    return lines[0]


def test_unknown_env_suggests_the_one_meant_or_says_what_hubrl_plays(tmp_path):
    line = one_line_error(hubrl("train", "MountainCar-v9", "--output", tmp_path / "x", check=False))
    assert "did you mean 'MountainCar-v0'?" in line
    line = one_line_error(hubrl("train", "NoSuchGame-v0", "--output", tmp_path / "x", check=False))
    assert "any environment registered with gymnasium" in line and "CartPole-v1" in line
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("setting", ["lr=-1", "lr=0", "hidden_sizes=0", "n_training_episodes=0", "batch_episodes=-2",
                                     "nonsense=3"])
def test_nonsensical_hyperparameters(tmp_path, setting):
    one_line_error(hubrl("train", "CartPole-v1", "--set", setting, "--output", tmp_path / "x", check=False))
    assert not (tmp_path / "x").exists()


def test_existing_output_is_not_overwritten(run_dir):
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    line = one_line_error(hubrl("train", "CartPole-v1", "--output", run_dir, check=False))
    assert "--overwrite" in line
    assert before == {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}


def test_broken_run_folders(run_dir, tmp_path):
    import shutil

    missing = tmp_path / "missing"
    shutil.copytree(run_dir, missing)
    (missing / "model.safetensors").unlink()
    assert "model.safetensors" in one_line_error(hubrl("evaluate", missing, check=False))
    corrupt = tmp_path / "corrupt"
    shutil.copytree(run_dir, corrupt)
    (corrupt / "config.json").write_text("{not json")
    assert "config.json" in one_line_error(hubrl("evaluate", corrupt, check=False))
    bad_weights = tmp_path / "bad"
    shutil.copytree(run_dir, bad_weights)
    (bad_weights / "model.safetensors").write_bytes(b"nonsense")
    assert "corrupt" in one_line_error(hubrl("record", bad_weights, "--output", tmp_path / "v.mp4", check=False))
    assert "neither" in one_line_error(hubrl("evaluate", tmp_path / "nowhere", check=False))


def start_training(out, *extra):
    """``hubrl train`` with Ctrl-C at its default (a shell that started the tests with ``&`` would pass it ignored)."""
    return subprocess.Popen([sys.executable, "-m", "hubrl.cli", "train", "CartPole-v1", "--preset", "course",
                             "--output", str(out), "--quiet", *extra], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(path, proc, timeout=120):
    """Until ``path`` exists: a real sign of progress, however loaded the machine is."""
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_ctrl_c_then_resume(tmp_path):
    out = tmp_path / "interrupted"
    partial = tmp_path / ".interrupted.partial"
    # Checkpoints every half second of training: the first one is the signal that training is under way.
    proc = start_training(out, "--time-budget", "8", "--set", "checkpoint_every_s=0.5")
    wait_for(partial / "checkpoint" / "state.json", proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists() and (partial / "checkpoint" / "state.json").exists()
    again = one_line_error(hubrl("train", "CartPole-v1", "--preset", "course", "--output", out, check=False))
    assert "--resume" in again
    hubrl("train", "CartPole-v1", "--preset", "course", "--output", out, "--resume", "--quiet", "--no-video")
    # the resumed run keeps the checkpoint's settings: it stops once 8 s of training time are used in all
    training = json.loads((out / "results.json").read_text())["training"]
    assert 8 <= training["wall_s"] < 20
    assert (out / "model.safetensors").exists() and not partial.exists()


def test_ctrl_c_at_any_moment_leaves_a_clear_state(tmp_path):
    """Ctrl-C as soon as the staging folder exists (set-up, or the first updates, whichever the machine is at):
    either a checkpoint and the resume hint, or nothing left behind and an invitation to start again."""
    out = tmp_path / "early"
    partial = tmp_path / ".early.partial"
    # more episodes than 30 s allow: the run cannot end on its own before the Ctrl-C lands
    proc = start_training(out, "--time-budget", "30", "--set", "n_training_episodes=1000000")
    wait_for(partial, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hubrl: error: interrupted"), stderr
    assert not out.exists()
    if "--resume" in lines[0]:
        assert (partial / "checkpoint" / "state.json").exists()
    else:
        assert "nothing to resume; start again" in lines[0] and not partial.exists()
