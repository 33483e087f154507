"""Env facts and the observation spec: one owner each, importable without gymnasium, bounded for untrusted input;
facts of any registered env from gymnasium's registry, hubrl's table where it knows better."""

import subprocess
import sys

import pytest

from hubrl.envs import ENVS, env_info, observation_spec
from hubrl.envs.facts import did_you_mean
from hubrl.envs.observation import MAX_LAG, ObservationSpec
from hubrl.errors import ConfigError, UnknownEnvError


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_hubrl_loads_no_gymnasium_torch_or_ale_and_registers_once_gymnasium_comes():
    assert not {"gymnasium", "torch", "ale_py"} & _modules_after("import hubrl, hubrl.envs, hubrl.policy")
    out = subprocess.run([sys.executable, "-c", "import hubrl, gymnasium\n"
                          "print('Pixelcopter-PLE-v0' in gymnasium.registry, 'ALE/Pong-v5' in gymnasium.registry)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
    out = subprocess.run([sys.executable, "-c", "import gymnasium, hubrl\n"  # gymnasium first: registered at once
                          "print('Pong-PLE-v0' in gymnasium.registry)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("typed, meant", [("cartpole-v1", "CartPole-v1"), ("CartPole-v7", "CartPole-v1"),
                                          ("pixelcopter-ple-v1", "Pixelcopter-PLE-v0"), ("ale/pong-v5", "ALE/Pong-v5"),
                                          ("acrobot-v1", "Acrobot-v1"), ("LunarLander-v2", "LunarLander-v3")])
def test_unknown_env_ids_suggest_the_one_meant(typed, meant):
    with pytest.raises(UnknownEnvError) as err:
        env_info(typed)
    assert f"did you mean {meant!r}?" in str(err.value) and "\n" not in str(err.value)


def test_no_suggestion_for_something_else():
    assert did_you_mean("NoSuchGame-v0", ENVS) is None
    with pytest.raises(UnknownEnvError, match="^unknown environment 'NoSuchGame-v0'; hubrl plays any environment "
                                              "registered with gymnasium") as err:
        env_info("NoSuchGame-v0")
    assert "\n" not in str(err.value)


def test_an_id_another_package_registers_names_the_package():
    with pytest.raises(UnknownEnvError, match="pip install minigrid"):
        env_info("MiniGrid-Empty-5x5-v0")


@pytest.mark.parametrize("env_id, max_t, threshold, family, extra", [
    ("Acrobot-v1", 500, -100.0, "classic", None),
    ("Pendulum-v1", 200, None, "classic", None),
    ("LunarLander-v3", 1000, 200.0, "classic", "box2d"),
    ("ALE/Breakout-v5", 27000, None, "atari", "atari"),  # 108,000 frames at frameskip 4
    ("HalfCheetah-v5", 1000, 4800.0, "classic", "mujoco"),  # facts need no MuJoCo: only playing does
])
def test_any_registered_env_has_facts_from_gymnasiums_registry(env_id, max_t, threshold, family, extra):
    info = env_info(env_id)
    assert (info.max_t, info.reward_threshold, info.family, info.extra) == (max_t, threshold, family, extra)
    assert info.pass_mark is None and info.return_range is None  # the course's facts are for the course's envs


def test_hubrls_table_wins_where_it_knows_better_and_the_registry_adds_the_rest():
    cartpole = env_info("CartPole-v1")
    assert (cartpole.max_t, cartpole.pass_mark, cartpole.max_return) == (1000, 350.0, 500.0)  # the course's cap
    assert cartpole.reward_threshold == 475.0  # gymnasium's
    assert env_info("Pixelcopter-PLE-v0").family == "ple" and env_info("ALE/Pong-v5").max_t == 27000


def test_the_facts_module_answers_for_the_course_envs_without_gymnasium():
    code = ("import sys; sys.modules['gymnasium'] = None\n"  # gymnasium cannot be imported in this process
            "from hubrl.envs.facts import env_info\n"
            "print(env_info('CartPole-v1').pass_mark)\n"
            "try:\n    env_info('Acrobot-v1')\nexcept Exception as e:\n    print(type(e).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["350.0", "UnknownEnvError"]


@pytest.mark.parametrize("options, message", [
    ({"obs_lags": [100_000_000]}, f"from 1 to {MAX_LAG}"),
    ({"obs_lags": list(range(1, 20))}, "at most 8"),
    ({"obs_lags": "6"}, "non-empty list"),
    ({"max_num_frames_per_episode": 200}, "unknown env option"),
    ({"render_mode": "human"}, "unknown env option"),
    ([1, 2], "must be a mapping"),
    ({"obs_mode": "pixels"}, "for ALE games only"),
])
def test_untrusted_env_options_end_in_one_line(options, message):
    with pytest.raises(ConfigError, match=message) as err:
        observation_spec("CartPole-v1", options)
    assert "\n" not in str(err.value)


def test_ale_games_need_an_obs_mode_and_a_known_one():
    assert observation_spec("ALE/Pong-v5", {"obs_mode": "ram"}) == {"obs_mode": "ram"}
    for options in ({}, {"obs_mode": "rgb"}):
        with pytest.raises(ConfigError, match="obs_mode"):
            observation_spec("ALE/Pong-v5", options)


def test_the_spec_reads_as_the_mapping_it_is_saved_as():
    spec = ObservationSpec.from_json({"obs_lags": [24, 6, 12]})
    assert spec == {"obs_lags": [6, 12, 24]} and dict(spec) == {"obs_lags": [6, 12, 24]} and spec.obs_lags == (6, 12, 24)
    assert {**ObservationSpec()} == {} and ObservationSpec() == {}
