"""Real course repo shapes, loaded by repo id through ``hubrl evaluate`` against a local Hub.

Each repo is written the way students wrote theirs (torch.save in this test, their metadata files beside it) and
pushed with the real huggingface_hub client. ``hubrl evaluate REPO --json`` must then score exactly what the
author's own live module scores under the same seeded protocol: episode ``k`` reset with seed ``k``, one uniform per
step from ``default_rng(k)``, the action taken by inverse CDF over the module's probabilities.

What is under test here is what the loader makes of each repo, so model.pt is read by the reader's own code in this
process (``reader_in_this_process``); the bounded child is tested once per kind of answer in tests/test_course.py and
tests/test_course_hostile.py, through ``hubrl evaluate`` included.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from course_fixtures import (
    class_in_main,
    class_in_module,
    make_malicious_model_pt,
    reader_in_this_process,  # noqa: F401 - the autouse fixture: reads in-process unless a test is marked child
)
from huggingface_hub import HfApi

from hubrl.cli import main
from hubrl.defaults import DEFAULT_EVAL_SEED
from hubrl.envs import env_info, make_env
from hubrl.errors import AgentFormatError
from hubrl.server import LocalHub

HYPER = {"env_id": "CartPole-v1", "h_size": 16, "n_training_episodes": 1000, "n_evaluation_episodes": 10,
         "max_t": 1000, "gamma": 1.0, "lr": 0.01, "state_space": 4, "action_space": 2}
RESULTS = {"env_id": "CartPole-v1", "mean_reward": 500.0, "n_evaluation_episodes": 10,
           "eval_datetime": "2023-05-01T10:00:00"}
CARD = """---
tags:
- {env}
- reinforce
- reinforcement-learning
- custom-implementation
- deep-rl-class
model-index:
- name: Reinforce-{env}
  results:
  - task:
      type: reinforcement-learning
      name: reinforcement-learning
    dataset:
      name: {env}
      type: {env}
    metrics:
    - type: mean_reward
      value: 500.00 +/- 0.00
      name: mean_reward
---
# **Reinforce** Agent playing **{env}**
"""
TAGS_ONLY_CARD = "---\ntags:\n- reinforce\n- {env}\n---\n# my agent\n"
N_EPISODES = 4


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.token = server.create_token("bob")
        yield server


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBRL_CACHE", str(tmp_path / "hubrl-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "hubrl-cache"


# -- the author's side: a CartPole controller in any architecture, and the seeded protocol on the live module ---------

def controller_weights(sizes: list[int], activation: str = "relu", seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights of a Linear chain ``sizes`` that balance CartPole: units 0/1 carry +-(theta + 0.5 theta_dot)."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = rng.normal(0, 0.05, (n_out, n_in))
        b = rng.normal(0, 0.05, n_out)
        if k == 0:
            w[:2] = [[0.05, 0.2, 4.0, 2.0], [-0.05, -0.2, -4.0, -2.0]]
            b[:2] = 0
        if 0 < k < len(sizes) - 2:
            w[:2, :] = 0
            w[:2, :2] = np.eye(2)
            b[:2] = 0
        if k == len(sizes) - 2:
            w[:, :2] = 0
            w[1, :2] = [3.0, -3.0] if activation == "relu" else [6.0, 0.0]
        layers.append((w.astype(np.float32), b.astype(np.float32)))
    return layers


def set_weights(module: nn.Module, layers: list[tuple[np.ndarray, np.ndarray]]) -> nn.Module:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == len(layers)
    with torch.no_grad():
        for linear, (w, b) in zip(linears, layers):
            linear.weight.copy_(torch.from_numpy(w))
            if linear.bias is not None:
                linear.bias.copy_(torch.from_numpy(b))
    return module.eval()


def author_returns(probs, env_id: str = "CartPole-v1", n: int = N_EPISODES, dtype=torch.float32) -> list[float]:
    """The seeded protocol run on the author's live module (``probs``: batch of states -> action probabilities)."""
    returns = []
    for k in range(n):
        seed = DEFAULT_EVAL_SEED + k
        env, rng = make_env(env_id), np.random.default_rng(seed)
        obs, _ = env.reset(seed=seed)
        total = 0.0
        for _ in range(env_info(env_id).max_t):
            with torch.no_grad():
                p = probs(torch.as_tensor(np.asarray(obs, np.float32), dtype=dtype)[None])[0].double().numpy()
            u = rng.random()
            action = min(int((np.cumsum(p) < u * p.sum()).sum()), len(p) - 1)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        env.close()
        returns.append(total)
    return returns


# -- the students' architectures ---------------------------------------------------------------------------------

class Policy(nn.Module):
    """The notebook's CartPole policy."""

    def __init__(self, s_size=4, a_size=2, h_size=16):
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class Keeper(Policy):
    """A policy that keeps its optimizer, a deque, numpy values and its device as attributes."""

    def __init__(self):
        super().__init__()
        self.optimizer = torch.optim.Adam(self.parameters(), lr=1e-2)
        self.saved_log_probs = collections.deque(maxlen=1000)
        self.scores_deque = collections.deque([12.0, 40.0], maxlen=100)
        self.returns = np.linspace(0, 1, 5)
        self.best_score = np.float64(500.0)
        self.device = torch.device("cpu")


class SequentialBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 2), nn.Softmax(dim=1))

    def forward(self, x):
        return self.model(x)


class ListBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 24), nn.Linear(24, 24), nn.Linear(24, 2)])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return F.softmax(self.layers[-1](x), dim=1)


class NamedAnything(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 64)
        self.layer1 = nn.Linear(64, 128)
        self.hidden1 = nn.Linear(128, 2)

    def forward(self, x):
        return F.softmax(self.hidden1(F.relu(self.layer1(F.relu(self.affine1(x))))), dim=1)


def softmax_of(module):
    return lambda x: torch.softmax(module(x), dim=1)


def save_in_main(obj, cls, path: Path, **kwargs) -> None:
    cls.__module__, cls.__qualname__ = "__main__", cls.__name__
    with class_in_main(cls):
        torch.save(obj, path, **kwargs)


def notebook(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=1))
    save_in_main(model, Policy, path)
    return model


def in_lib_module(path):
    class PolicyLib(Policy):
        pass

    PolicyLib.__name__ = PolicyLib.__qualname__ = "Policy"
    model = set_weights(PolicyLib(), controller_weights([4, 16, 2], seed=2))
    with class_in_module(PolicyLib, "lib.reinforce"):
        torch.save(model, path)
    return model


def in_reinforce_module(path):
    class REINFORCE(Policy):
        pass

    REINFORCE.__qualname__ = "REINFORCE"
    model = set_weights(REINFORCE(), controller_weights([4, 16, 2], seed=3))
    with class_in_module(REINFORCE, "REINFORCE"):
        torch.save(model, path)
    return model


def keeper(path):
    model = set_weights(Keeper(), controller_weights([4, 16, 2], seed=4))
    model.fc2(F.relu(model.fc1(torch.randn(5, 4)))).sum().backward()
    model.optimizer.step()  # optimizer state with tensors; the weights changed: set them again
    set_weights(model, controller_weights([4, 16, 2], seed=4))
    save_in_main(model, Keeper, path)
    return model


def sequential_body(path):
    model = set_weights(SequentialBody(), controller_weights([4, 32, 2], seed=5))
    save_in_main(model, SequentialBody, path)
    return model


def module_list(path):
    model = set_weights(ListBody(), controller_weights([4, 24, 24, 2], seed=6))
    save_in_main(model, ListBody, path)
    return model


def named_anything(path):
    model = set_weights(NamedAnything(), controller_weights([4, 64, 128, 2], seed=7))
    save_in_main(model, NamedAnything, path)
    return model


def tanh_sequential(path):
    model = set_weights(nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)),
                        controller_weights([4, 16, 2], "tanh", seed=8))
    torch.save(model, path)  # a bare torch Sequential returning logits: the author's act applied the softmax
    return softmax_of(model)


def cuda_storages(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=9))
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        save_in_main(model, Policy, path)
    finally:
        torch.serialization.location_tag = original
    assert b"cuda:0" in path.read_bytes()
    return model


def float64(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=10)).double()
    save_in_main(model, Policy, path)
    return lambda x: model(x.double())


def legacy_state_dict(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=11))
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    return model


def bare_state_dict(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=12))
    torch.save(model.state_dict(), path)
    return model


def checkpoint_with_scalars(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=13))
    torch.save({"state_dict": model.state_dict(), "mean_reward": np.float64(487.2), "std_reward": np.float64(12.5)},
               path)
    return model


def checkpoint_with_optimizer(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=14))
    optimizer = torch.optim.Adam(model.parameters())
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "episode": 900}, path)
    return model


def checkpoint_with_module(path):
    model = set_weights(Policy(), controller_weights([4, 16, 2], seed=15))
    save_in_main({"policy": model, "scores": [1.0, 2.0]}, Policy, path)
    return model


def no_hyper(folder: Path) -> None:
    (folder / "hyperparameters.json").unlink()


def hyper(**changes):
    def edit(folder: Path) -> None:
        (folder / "hyperparameters.json").write_text(json.dumps({**HYPER, **changes}))
    return edit


def only_card(kind: str = "model-index"):
    def edit(folder: Path) -> None:
        no_hyper(folder)
        (folder / "results.json").unlink()
        (folder / "README.md").write_text((CARD if kind == "model-index" else TAGS_ONLY_CARD).format(env="CartPole-v1"))
    return edit


def hydra(folder: Path) -> None:
    (folder / "hyperparameters.json").write_text(json.dumps(
        {"env": {"id": "CartPole-v1", "max_t": 1000}, "model": {"h_size": [32]}, "training": {"lr": 0.01}}))


SHAPES = {
    "notebook": (notebook, None),
    "lib-reinforce-Policy": (in_lib_module, hyper(state_space=[4], h_size=[16])),
    "REINFORCE-REINFORCE": (in_reinforce_module, no_hyper),
    "optimizer-deque-numpy-device": (keeper, only_card("model-index")),
    "sequential-softmax-dropout": (sequential_body, hydra),
    "modulelist": (module_list, hyper(state_space="four", h_size=[24, 24])),
    "named-anything": (named_anything, only_card("tags")),
    "tanh-sequential": (tanh_sequential, None),
    "cuda-storages": (cuda_storages, None),
    "float64": (float64, None),
    "legacy-state-dict": (legacy_state_dict, None),
    "state-dict": (bare_state_dict, None),
    "checkpoint-state_dict-std_reward": (checkpoint_with_scalars, None),
    "checkpoint-model_state_dict-optimizer": (checkpoint_with_optimizer, None),
    "checkpoint-policy-module": (checkpoint_with_module, None),
}


def push_repo(hub, tmp_path: Path, name: str, write_model, edit=None) -> tuple[str, object]:
    folder = tmp_path / "upload" / name
    folder.mkdir(parents=True)
    live = write_model(folder / "model.pt")
    (folder / "hyperparameters.json").write_text(json.dumps(HYPER))
    (folder / "results.json").write_text(json.dumps(RESULTS))
    (folder / "README.md").write_text(CARD.format(env="CartPole-v1"))
    if edit:
        edit(folder)
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    repo_id = f"bob/{name}"
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folder)
    return repo_id, live


def evaluate(hub, repo_id: str, capsys) -> tuple[int, dict | None, str]:
    code = main(["evaluate", repo_id, "--endpoint", hub.endpoint, "--json", "--n-eval-episodes", str(N_EPISODES)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_scores_what_its_author_scores(hub, tmp_path, capsys, name):
    write_model, edit = SHAPES[name]
    repo_id, live = push_repo(hub, tmp_path, name, write_model, edit)
    code, result, err = evaluate(hub, repo_id, capsys)
    assert code == 0, err
    assert result["format"] == "course" and result["env_id"] == "CartPole-v1"
    expected = author_returns(live, dtype=torch.float64 if name == "float64" else torch.float32)
    assert result["episode_returns"] == expected
    assert sum(expected) > 100 * N_EPISODES  # a real controller: hundreds of steps compared per episode


def test_second_load_uses_the_cache_and_starts_no_child(hub, tmp_path, capsys, cache, monkeypatch):
    repo_id, live = push_repo(hub, tmp_path, "cached", notebook)
    first = evaluate(hub, repo_id, capsys)
    entries = list((cache / "course").iterdir())
    assert len(entries) == 1 and {p.name for p in entries[0].iterdir()} >= {"model.safetensors", "config.json"}

    import hubrl.course.model_file as model_file

    def no_child(*args, **kwargs):
        raise AssertionError("the cached load started the reader")

    monkeypatch.setattr(model_file, "_run_reader", no_child)
    second = evaluate(hub, repo_id, capsys)
    assert first[0] == second[0] == 0 and first[1]["episode_returns"] == second[1]["episode_returns"]


def test_a_cached_conversion_still_checks_the_repos_own_sizes(tmp_path):
    from hubrl.course import load_course_repo

    for name, hyper in (("good", HYPER), ("contradicts", {**HYPER, "state_space": [8]})):
        (tmp_path / name).mkdir()
        notebook(tmp_path / name / "model.pt")  # the same bytes in both repos
        (tmp_path / name / "hyperparameters.json").write_text(json.dumps(hyper))
    load_course_repo(tmp_path / "good", source="bob/good")
    with pytest.raises(AgentFormatError, match="says state_space=8 but model.pt has 4"):
        load_course_repo(tmp_path / "contradicts", source="bob/contradicts")


_TORCH_FREE = """
import sys
sys.modules["torch"] = None  # importing torch now fails
from hubrl.course import load_course_repo
agent = load_course_repo(sys.argv[1], source="bob/cached")
print(agent.policy.config.hidden_sizes)
"""


def test_cached_load_needs_no_torch(tmp_path, cache):
    from hubrl.course import load_course_repo

    folder = tmp_path / "repo"
    folder.mkdir()
    notebook(folder / "model.pt")
    (folder / "hyperparameters.json").write_text(json.dumps(HYPER))
    load_course_repo(folder, source="bob/cached")  # converts and caches
    probe = subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None; import hubrl.policy"],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr  # the inference policy imports no torch
    env = {"HUBRL_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _TORCH_FREE, str(folder)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(16,)"


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.actor = nn.Linear(16, 2)
        self.critic = nn.Linear(16, 1)


class WithConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 1)
        self.fc = nn.Linear(4, 2)


class WithTemperature(Policy):
    def __init__(self):
        super().__init__()
        self.temperature = nn.Parameter(torch.ones(1))


def saved(cls):
    def write(path):
        save_in_main(cls(), cls, path)
    return write


REFUSALS = {
    # the files name two envs (the card and results.json say CartPole-v1): hubrl does not guess which one it plays
    "unknown-env": (notebook, hyper(env_id="LunarLander-v2"),
                    "the repo's files name different envs: CartPole-v1 (model-index), LunarLander-v2 "
                    "(hyperparameters.json)"),
    "unknown-env-alone": (notebook, lambda f: [hyper(env_id="LunarLander-v2")(f), (f / "results.json").unlink(),
                                               (f / "README.md").unlink()],
                          "was trained on 'LunarLander-v2' (from hyperparameters.json), which hubrl cannot run"),
    "no-env-anywhere": (notebook, lambda f: [no_hyper(f), (f / "results.json").unlink(), (f / "README.md").unlink()],
                        "names no env id"),
    "two-heads": (saved(TwoHeads), None, "two output heads (actor and critic"),
    "conv": (saved(WithConv), None, "conv is a torch.nn.modules.conv.Conv1d"),
    "learned-parameter": (saved(WithTemperature), None, "learned parameters (temperature) outside its Linear layers"),
    "wrong-input-size": (lambda p: torch.save(Policy(5, 2, 16).state_dict(), p), hyper(state_space=None),
                         "takes 5 inputs and gives 2 actions, but CartPole-v1 has observations (4,)"),
    "state-space-contradicts": (notebook, hyper(state_space=[8]), "says state_space=8 but model.pt has 4"),
    "malicious": (lambda p: make_malicious_model_pt(p, p.with_name("pwned")), None,
                  "it references io.open, which a course model never contains; it may be malicious"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusal_is_one_line_through_the_cli(hub, tmp_path, capsys, name):
    write_model, edit, expected = REFUSALS[name]
    repo_id, _ = push_repo(hub, tmp_path, f"refused-{name}", write_model, edit)
    code, _, err = evaluate(hub, repo_id, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("hubrl: error: ") and "Traceback" not in err, err
    assert expected in err
    assert ("may be malicious" in err) == (name == "malicious")
    assert not (tmp_path / "upload" / f"refused-{name}" / "pwned").exists()
