"""Bounded loading on the client: someone else's repo costs one clear line, never gigabytes or a traceback.

Crafted repos are pushed to a real LocalHub with the real client; ``hubrl evaluate REPO`` runs in a child under a
1 GiB address-space limit (RLIMIT_AS) and must end in one line on stderr, a non-zero exit and well under a minute.
Sizes are checked from the Hub's listing before anything is downloaded (what was refused is absent from the cache
afterwards), the weights' header before their data, JSON nesting before it is parsed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi, constants

from hubrl.errors import AgentFormatError, ConfigError, RunFolderError, TimeLimitError
from hubrl.evaluate import evaluate_agent
from hubrl.hub import HubClient
from hubrl.loading import check_sizes
from hubrl.policy import MAX_PARAMETERS, PolicyConfig, load_policy
from hubrl.server import LocalHub
from hubrl.untrusted import UntrustedFileError, json_depth, parse_json, read_json_file, read_safetensors_header

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "model_cards" / "reference" / "CartPole-v1"
MEMORY_CAP = 1 << 30
CONFIG = json.loads((REFERENCE / "config.json").read_text())


def folder_with(tmp: Path, name: str, *, config: str | None = None, files: dict[str, bytes] | None = None) -> Path:
    """A copy of the reference CartPole run folder with config.json and other files replaced."""
    folder = tmp / name
    shutil.copytree(REFERENCE, folder, ignore=shutil.ignore_patterns("*.mp4", "*.png"))
    if config is not None:
        (folder / "config.json").write_text(config)
    for path, data in (files or {}).items():
        (folder / path).write_bytes(data)
    return folder


def config_with(**changes) -> str:
    return json.dumps({**CONFIG, **changes})


ATTACKS = {
    "obs-lags": (config_with(env_options={"obs_lags": [100_000_000]}), "obs_lags must be distinct whole numbers"),
    "hidden-x": (config_with(hidden_sizes=["x"]), "hidden_sizes must be a whole number"),
    "hidden-infinity": (config_with(hidden_sizes=[32]).replace('"hidden_sizes": [32]', '"hidden_sizes": [Infinity]'),
                        "hidden_sizes must be a whole number"),
    "options-list": (config_with(env_options=[1, 2]), "env_options must be a mapping"),
    "nested": (config_with()[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
               "nests 100,001 levels deep; hubrl reads JSON up to 64 levels"),
    "render-human": (config_with(env_options={"render_mode": "human"}), "unknown env option(s) 'render_mode'"),
    "episode-cap": (config_with(env_options={"max_episode_steps": 10}), "unknown env option(s) 'max_episode_steps'"),
    "wide-8192": (config_with(hidden_sizes=[8192, 8192]), "hidden_sizes must be a whole number from 1 to 4096"),
    "over-env-cap": (config_with(hidden_sizes=[4096, 4096]), "hubrl loads at most 8,388,608 for CartPole-v1"),
    "not-json": ("{'format': 1", "config.json is not valid JSON"),
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bounded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_CACHE", str(tmp / "hf_cache"))
        mp.setattr(constants, "HF_TOKEN_PATH", str(tmp / "no_token"))
        mp.delenv("HF_TOKEN", raising=False)
        with LocalHub(tmp / "data") as server:
            api = HfApi(endpoint=server.endpoint, token=server.create_token("mallory"))

            def push(folder: Path) -> None:
                api.create_repo(f"mallory/{folder.name}")
                api.upload_folder(repo_id=f"mallory/{folder.name}", folder_path=folder)

            for name, (config, _) in ATTACKS.items():
                push(folder_with(tmp, name, config=config))
            push(folder_with(tmp, "obs-dim", config=config_with(obs_dim=5),
                             files={"model.safetensors": _weights(PolicyConfig(**{
                                 **{k: CONFIG[k] for k in ("env_id", "hidden_sizes", "activation")},
                                 "obs_dim": 5, "n_actions": 2}))}))
            push(folder_with(tmp, "big-results", files={"results.json": b'{"pad": "' + b"x" * (2 << 20) + b'"}'}))
            push(folder_with(tmp, "padded-weights", files={"model.safetensors": _weights(
                PolicyConfig.from_json(CONFIG), extra={"padding": np.zeros(1 << 20, dtype=np.float32)})}))
            server.tmp = tmp
            yield server


def _weights(config: PolicyConfig, extra: dict | None = None) -> bytes:
    from safetensors.numpy import save

    tensors = {k: np.zeros(shape, dtype=dtype) for k, (shape, dtype) in config.weight_shapes().items()}
    return save({**tensors, **(extra or {})})


def evaluate_cli(hub: LocalHub, repo_id: str, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    """``hubrl evaluate REPO`` in a child under a 1 GiB address-space limit."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env.update(PYTHONPATH=str(ROOT), HF_HOME=str(hub.tmp / "cli_home"), HUBRL_CACHE=str(hub.tmp / "hubrl_cache"),
               HF_HUB_DISABLE_PROGRESS_BARS="1")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hubrl.cli", "evaluate", repo_id, "--endpoint", hub.endpoint,
                           *extra], capture_output=True, text=True, env=env, timeout=120, preexec_fn=cap, check=False)
    return proc, time.monotonic() - start


@pytest.mark.parametrize("name", [*ATTACKS, "obs-dim", "big-results", "padded-weights"])
def test_hostile_repo_is_one_line_under_a_minute_and_1_gib(hub, name):
    proc, seconds = evaluate_cli(hub, f"mallory/{name}")
    expected = {"obs-dim": "the policy takes observations of shape (5,), but CartPole-v1 gives observations of "
                           "shape (4,)",
                "big-results": "results.json is 2,097,163 bytes; hubrl reads at most 1,048,576 bytes",
                "padded-weights": "its config.json allows; hubrl does not fetch it"}.get(name) or ATTACKS[name][1]
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("hubrl: error: mallory/"), proc.stderr
    assert expected in lines[0] and seconds < 60


def test_refused_files_are_never_downloaded(hub):
    for name in ("big-results", "padded-weights"):
        with pytest.raises(AgentFormatError):
            HubClient(hub.endpoint, False).load_from_hub(f"mallory/{name}", cache_dir=hub.tmp / "dl")
    cached = {p.name: p.stat().st_size for p in (hub.tmp / "dl").rglob("*") if p.is_file()}
    assert "config.json" in cached  # read first, to bound the weights
    assert all(size < 1 << 20 for size in cached.values()), cached


def test_evaluation_time_limit(hub):
    with pytest.raises(TimeLimitError, match=r"took more than 0\.001 s \(wall clock\)"):
        evaluate_agent(load_policy(REFERENCE), time_limit=0.001)
    proc, _ = evaluate_cli(hub, str(REFERENCE), "--time-limit", "0.001")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "--time-limit" in proc.stderr


def test_weights_header_is_checked_before_any_data(tmp_path):
    folder = folder_with(tmp_path, "run")
    weights = folder / "model.safetensors"
    header = json.dumps({"net.0.weight": {"dtype": "F32", "shape": [1 << 28], "data_offsets": [0, 1 << 30]}}).encode()
    weights.write_bytes(struct.pack("<Q", len(header)) + header)  # claims 1 GiB, holds none
    with pytest.raises(AgentFormatError, match="is corrupt: it holds .* bytes but its header accounts for"):
        load_policy(folder)
    weights.write_bytes(struct.pack("<Q", 1 << 60))  # an absurd header length: nothing is allocated for it
    with pytest.raises(AgentFormatError, match="is corrupt: it declares a 1,152,921,504,606,846,976-byte header"):
        load_policy(folder)
    shutil.copy(REFERENCE / "model.safetensors", weights)
    assert set(read_safetensors_header(weights)) == set(PolicyConfig.from_json(CONFIG).weight_shapes())


def test_run_folder_json_is_bounded(tmp_path):
    from hubrl.records import load_run

    folder = folder_with(tmp_path, "run", files={"results.json": b"[" * 100_000 + b"]" * 100_000})
    with pytest.raises(RunFolderError, match="nests 100,000 levels deep"):
        load_run(folder)
    (folder / "results.json").write_bytes(b'"' + b"x" * (2 << 20) + b'"')
    with pytest.raises(RunFolderError, match="larger than 1 MiB"):
        load_run(folder)


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth('{"a": "[[[{{{", "b": [[1], {"c": "]]]"}]}') == 3
    assert json_depth("42") == 0
    assert parse_json('{"a": [1, 2]}') == {"a": [1, 2]}
    with pytest.raises(UntrustedFileError, match="nests 65 levels deep"):
        parse_json("[" * 65 + "]" * 65)
    with pytest.raises(UntrustedFileError, match="not UTF-8"):
        parse_json(b"\xff\xfe")


def test_json_file_size_checked_before_reading(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * ((1 << 20) + 1))
    with pytest.raises(UntrustedFileError, match="larger than 1 MiB"):
        read_json_file(path)


def test_listed_sizes_are_checked_before_download():
    assert check_sizes("a/b", {"model.pt": 1000, "README.md": 5 << 20}, ["model.pt", "README.md"]) == ["model.pt"]
    with pytest.raises(AgentFormatError, match="model.pt is 314,572,800 bytes; hubrl reads at most 268,435,456"):
        check_sizes("a/b", {"model.pt": 300 << 20}, ["model.pt"])


@pytest.mark.parametrize("env_id, obs_dim, cap, over, under", [
    ("CartPole-v1", 4, 1 << 23, (4096, 2048), (4096, 2000)),
    ("Pixelcopter-PLE-v0", 28, 1 << 20, (4096, 250), (4096, 225)),
    ("Pong-PLE-v0", 7, 1 << 21, (4096, 510), (4096, 500)),
    ("ALE/Pong-v5", 6400, 1 << 22, (656,), (600,)),
])
def test_parameter_cap_per_env(env_id, obs_dim, cap, over, under):
    options = {"obs_mode": "pixels"} if env_id.startswith("ALE") else {}
    with pytest.raises(ConfigError, match=f"hubrl loads at most {cap:,} for {env_id}"):
        PolicyConfig(env_id=env_id, obs_dim=obs_dim, n_actions=2, hidden_sizes=over, env_options=options)
    config = PolicyConfig(env_id=env_id, obs_dim=obs_dim, n_actions=2, hidden_sizes=under, env_options=options)
    assert cap * 0.9 < config.n_parameters() <= cap <= MAX_PARAMETERS
