"""The whole pipeline (train, evaluate, record, card) on every environment, with tiny budgets; and the env each
preset trains on, wrappers included, through gymnasium's ``check_env``."""

import json
import warnings

import imageio.v3 as iio
import pytest
from gymnasium.utils.env_checker import check_env
from huggingface_hub import ModelCard

from hubrl.card import card_problems
from hubrl.envs import make_env
from hubrl.errors import ConfigError
from hubrl.presets import TrainConfig, make_config
from hubrl.run import train_run


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pixelcopter-PLE-v0", "Pong-PLE-v0", "ALE/Pong-v5"])
def test_the_env_a_preset_trains_on_passes_check_env(env_id):
    """As ``make_env`` builds it with the default preset's options (observation history, Pong's two actions on
    pixels). Any warning fails but two: the unbounded observation space the original PLE games declare, and
    gymnasium's advice to check the unwrapped env. Render modes are checked on the bare envs (tests/test_ple.py):
    gymnasium can only re-make a wrapped env whose wrappers record their arguments, and hubrl's do not."""
    env = make_env(env_id, observation=make_config(env_id).env_options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*A Box observation space (minimum|maximum) value is -?infinity")
        warnings.filterwarnings("ignore", message=r".*is different from the unwrapped version")
        check_env(env, skip_render_check=True, skip_close_check=True)
    env.close()


@pytest.mark.parametrize("env_id, overrides", [
    ("Pixelcopter-PLE-v0", dict(max_env_steps=20_000, val_every=2, n_val_episodes=2, n_evaluation_episodes=3,
                                rollout_workers=1, max_t=300, train_max_t=100, cut_tail=20, batch_episodes=8)),
    ("Pong-PLE-v0", dict(max_env_steps=20_000, val_every=2, n_val_episodes=2, n_evaluation_episodes=2,
                         rollout_workers=1, max_t=300, train_max_t=100, cut_tail=20)),
])
def test_ple_games_produce_a_complete_run_folder(tmp_path, env_id, overrides):
    path = train_run(env_id=env_id, output=tmp_path / "run", progress=False, **overrides).path
    results = json.loads((path / "results.json").read_text())
    assert results["env_id"] == env_id and results["max_steps"] == 300 and len(results["seeds"]) == len(
        results["episode_returns"])
    card = ModelCard.load(path / "README.md")
    assert card.data.to_dict()["tags"][0] == env_id and card_problems(card) == []
    if env_id.startswith("Pixel"):  # the tuned preset's agent sees 6, 12 and 24 frames back: saved and explained
        config = json.loads((path / "config.json").read_text())
        assert config["env_options"] == {"obs_lags": [6, 12, 24]} and config["obs_dim"] == 28
        assert "ObservationHistory(env, [6, 12, 24])" in card.text
    frames = list(iio.imiter(path / "replay.mp4", plugin="FFMPEG"))
    assert frames[0].shape[:2] == (288, 288 if env_id.startswith("Pixel") else 384)  # 6x nearest-neighbour
    assert len(frames) >= 2


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_ale_pong_trains_evaluates_and_records(tmp_path, backend):
    """An execution setting (how the training copies run) trains, and never reaches the agent's config.json."""
    path = train_run(env_id="ALE/Pong-v5", output=tmp_path / "ale", progress=False, batch_episodes=2,
                     n_training_episodes=2, max_t=200, n_evaluation_episodes=1, hidden_sizes=(16,),
                     rollout_workers=1, env_backend=backend).path
    results = json.loads((path / "results.json").read_text())
    config = json.loads((path / "config.json").read_text())
    assert config["obs_dim"] == 6400 and config["n_actions"] == 2 and config["env_options"] == {"obs_mode": "pixels"}
    assert json.loads((path / "hyperparameters.json").read_text())["env_backend"] == backend
    assert results["max_steps"] == 200
    frames = list(iio.imiter(path / "replay.mp4", plugin="FFMPEG"))
    assert frames[0].shape[:2] == (432, 320)  # 210x160 upscaled 2x, padded to 16


def test_an_execution_setting_is_not_an_env_option():
    with pytest.raises(ConfigError, match="unknown env option.*'workers'.*what the agent observes"):
        make_config("ALE/Pong-v5", env_options={"obs_mode": "pixels", "workers": "native"})


def test_hyperparameters_of_earlier_runs_move_workers_to_env_backend():
    config = TrainConfig.from_json({**make_config("ALE/Pong-v5").to_json(),
                                    "env_options": {"obs_mode": "pixels", "workers": "native"}})
    assert config.env_backend == "native" and config.env_options == {"obs_mode": "pixels"}
