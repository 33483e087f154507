"""Hostile model.pt files: each ends in one line, never a dead, stuck or memory-flooded hubrl.

The files are a few bytes to a few MB, built here; none runs code (torch's weights-only unpickler holds) but each
attacks resources: the C stack, CPU time, memory, the zip directory. Files the reader's own checks stop (sizes, the
zip directory, the element count) are read in this process (``reader_in_this_process``); the attacks only the child's
bounds stop go through the real bounded child, one test per bound: the crash, CPU time, wall-clock time, memory,
output size, and an address space too small to start. The child's limits are set low so the tests stay fast; one
test runs ``hubrl evaluate`` on a hostile repo with hubrl's own address space capped at 4 GiB.
"""

from __future__ import annotations

import json
import os
import re
import resource
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from course_fixtures import (
    EMPTY_OD,
    PROTO2,
    archive,
    floats,
    g,
    i,
    make_course_model_pt,
    reader_in_this_process,  # noqa: F401 - the autouse fixture: reads in-process unless a test is marked child
    s,
    state_dict_pickle,
    tensor_op,
)

from hubrl.course import Limits, load_course_model
from hubrl.errors import AgentFormatError, HubrlError

LOW = Limits(memory_bytes=1 << 30, cpu_seconds=8, wall_seconds=120.0, max_bytes=8 << 20, max_elements=1 << 20)
"""Low child limits: enough to import torch and read a course model, little enough to fail fast."""


def deep_tuple_key(path: Path, depth: int = 1_000_000) -> Path:
    """A dict key nested ``depth`` tuples deep: hashing it recurses in C (SIGSEGV at 1,000,000)."""
    pkl = PROTO2 + b"}" + b"N" + b"\x85" * depth + b"N" + b"s."
    return archive(path, pkl)


def _dag(levels: int) -> bytes:
    """A memo-shared tuple DAG: level k is (level k-1, level k-1); 2**levels paths, 11 bytes per level.

    Each level pairs the previous one (on the stack) with itself (from the memo), so only the top stays pushed.
    """
    out = b")" + b"r" + struct.pack("<I", 0)
    for k in range(1, levels + 1):
        out += b"j" + struct.pack("<I", k - 1) + b"\x86" + b"r" + struct.pack("<I", k)
    return out


def dag_key(path: Path) -> Path:
    """The DAG as a dict key: hash() walks all 2**100 paths."""
    return archive(path, PROTO2 + b"}" + _dag(100) + b"N" + b"s.")


def dag_persistent_id(path: Path) -> Path:
    """The DAG as a storage key inside a persistent id: torch hashes it looking the storage up."""
    pid = b"(" + s("storage") + g("torch", "FloatStorage") + _dag(100) + s("cpu") + i(4) + b"tQ"
    return archive(path, PROTO2 + pid + b".", {"0": floats([1, 2, 3, 4])})


def stride0_flood(path: Path) -> Path:
    """Eight 2**28-element stride-0 views of one 4-element storage: free to unpickle, 8 GiB to copy."""
    entries = {f"fc{k}.weight": tensor_op("0", 4, (1 << 14, 1 << 14), (0, 0)) for k in range(8)}
    return archive(path, state_dict_pickle(entries), {"0": floats([1, 2, 3, 4])})


def zip_bomb(path: Path) -> Path:
    """3 MB whose deflated tensor record inflates to 3.1 GB (built from repeated full-flush blocks of zeros)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    repeat = packer.compress(bytes(1 << 20)) + packer.flush(zlib.Z_FULL_FLUSH)
    body = block + repeat * 2999 + packer.flush()
    size = 3000 << 20
    pkl = state_dict_pickle({"fc1.weight": tensor_op("0", size // 4, (size // 4,), (1,))})
    members = [("archive/data.pkl", pkl, 0, len(pkl), zlib.crc32(pkl)), ("archive/version", b"3\n", 0, 2, zlib.crc32(b"3\n")),
               ("archive/data/0", body, 8, size, 0)]
    out, central = b"", b""
    for name, data, method, usize, crc in members:
        raw = name.encode()
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), usize, len(raw), 0)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), usize,
                               len(raw), 0, 0, 0, 0, 0, len(out)) + raw
        out += header + raw + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(out), 0)
    path.write_bytes(out + central + end)
    return path


def opcode_flood(path: Path) -> Path:
    """250 KB of REDUCE bytearray(2**30), results kept on the stack: torch's default allowlist lets it allocate."""
    one = b"h\x00" + i(1 << 30) + b"\x85R"  # the results stay on the stack
    pkl = PROTO2 + g("builtins", "bytearray") + b"q\x00" + one * (250_000 // len(one)) + b"N."
    return archive(path, pkl)


def huge_stride(path: Path) -> Path:
    """A tensor with stride 2**64 (overflows every size computation)."""
    return archive(path, state_dict_pickle({"fc1.weight": tensor_op("0", 4, (2, 2), (2**64, 1))}),
                   {"0": floats([1, 2, 3, 4])})


def encrypted_member(path: Path) -> Path:
    """A member flagged as encrypted (torch.save never writes one): the flag set in both of its zip headers."""
    archive(path, state_dict_pickle({"fc1.weight": tensor_op("0", 4, (2, 2), (2, 1))}), {"0": floats([1, 2, 3, 4])})
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")  # data.pkl is the first member
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    return path


def deep_key_5000(path: Path) -> Path:
    """A 5,000-deep tuple as a state_dict key next to a real weight."""
    key = b"N" + b"\x85" * 5000
    pkl = PROTO2 + EMPTY_OD + b"(" + key + tensor_op("0", 4, (2, 2), (2, 1)) + s("fc1.weight") \
        + tensor_op("0", 4, (2, 2), (2, 1)) + b"u."
    return archive(path, pkl, {"0": floats([1, 2, 3, 4])})


def declared_too_large(path: Path) -> Path:
    """Stored members whose declared sizes together exceed the limit."""
    pkl = state_dict_pickle({"fc1.weight": tensor_op("0", 4, (2, 2), (2, 1))})
    return archive(path, pkl, {str(k): bytes(3 << 20) for k in range(4)})


HOSTILE = {
    "deep-tuple-key": (deep_tuple_key, r"could not be read safely: the reader crashed \(segmentation fault"),
    "dag-key": (dag_key, "could not be read safely: reading it used more than 3 s of CPU time"),
    "dag-persistent-id": (dag_persistent_id, r"could not be read safely: reading it took more than 5 s \(wall clock\)"),
    "stride0-flood": (stride0_flood, r"declares 2,147,483,648 tensor elements, more than the 1,048,576"),
    "zip-bomb": (zip_bomb, "compressed archive member"),
    "opcode-flood": (opcode_flood, "could not be read safely: it needs more than 1024 MiB"),
    "stride-2**64": (huge_stride, "is corrupt or not a torch.save file"),
    "encrypted-member": (encrypted_member, "encrypted archive member"),
    "deep-key-5000": (deep_key_5000, "neither a state_dict of tensors nor a checkpoint"),
    "declared-too-large": (declared_too_large, "declares 12,583,"),
}
CHILD_LIMITS = {
    "deep-tuple-key": LOW,  # the C stack: SIGSEGV
    "dag-key": replace(LOW, cpu_seconds=3),  # CPU time (hashing 2**100 paths)
    "dag-persistent-id": replace(LOW, cpu_seconds=60, wall_seconds=5.0),  # wall-clock time, CPU limit out of reach
    "opcode-flood": LOW,  # the address space: MemoryError inside the child
}
"""The attacks only the child's limits stop, each with the limits that make one bound end it."""


@pytest.mark.parametrize("name", [
    *(pytest.param(name, marks=pytest.mark.child) for name in CHILD_LIMITS),
    *(name for name in HOSTILE if name not in CHILD_LIMITS),
])
def test_hostile_file_ends_in_one_line(tmp_path, name):
    build, expected = HOSTILE[name]
    path = build(tmp_path / "model.pt")
    with pytest.raises(AgentFormatError) as err:
        load_course_model(path, display_name="eve/hostile/model.pt", limits=CHILD_LIMITS.get(name, LOW))
    message = str(err.value)
    assert "\n" not in message and message.startswith("eve/hostile/model.pt")
    assert re.search(expected, message), message
    assert "malicious" not in message  # nothing here tries to call anything


@pytest.mark.child
@pytest.mark.parametrize(("limits", "expected"), [
    (replace(LOW, max_output_bytes=16 << 10), r"it produced more output than any course model \(over 16 KiB"),
    (replace(LOW, memory_bytes=64 << 20), "could not even import torch within its 64 MiB address space"),
], ids=["output-size", "too-small-to-start"])
def test_a_course_model_beyond_the_childs_output_or_memory_ends_in_one_line(tmp_path, limits, expected):
    """The remaining bounds, on an honest Pixelcopter model (36 KB of float32 weights; it reads within ``LOW``)."""
    path = tmp_path / "model.pt"
    make_course_model_pt(path, 7, 2, 64, two_hidden=True)
    with pytest.raises(AgentFormatError) as err:
        load_course_model(path, display_name="eve/big/model.pt", limits=limits)
    message = str(err.value)
    assert "\n" not in message and message.startswith("eve/big/model.pt") and re.search(expected, message), message
    if limits.max_output_bytes < LOW.max_output_bytes:  # the bound, not the file: with LOW's output size it reads
        assert load_course_model(path, limits=LOW).hidden_sizes == (64, 128)


def test_hostile_files_are_small():
    """The files are what the issue reports (bytes to a few MB), so the bounds, not the inputs, do the work."""
    sizes = {}
    for name, (build, _) in HOSTILE.items():
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"hubrl-size-{os.getpid()}-{name}.pt"
        try:
            sizes[name] = build(path).stat().st_size
        finally:
            path.unlink(missing_ok=True)
    assert sizes["zip-bomb"] < 4 << 20 and sizes["dag-key"] < 2000 and sizes["opcode-flood"] < 260_000
    assert max(sizes.values()) < 13 << 20


# -- through the CLI, with hubrl's address space capped ---------------------------------------------------------------

@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from hubrl.server import LocalHub

    with LocalHub(tmp_path_factory.mktemp("hub")) as server:
        server.token = server.create_token("eve")
        yield server


def upload_hostile(hub, tmp_path: Path, name: str) -> str:
    from huggingface_hub import HfApi

    folder = tmp_path / name
    folder.mkdir()
    HOSTILE[name][0](folder / "model.pt")
    (folder / "hyperparameters.json").write_text(json.dumps({"env_id": "CartPole-v1", "h_size": 16}))
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    repo_id = f"eve/{name.replace('*', '')}"
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folder)
    return repo_id


def run_capped(args: list[str], env: dict[str, str], cap: int = 4 << 30) -> tuple[subprocess.CompletedProcess, float]:
    """``hubrl ARGS`` in a child whose address space is capped (what ``prlimit --as`` does)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "hubrl.cli", *args], capture_output=True, text=True, env=env,
                          preexec_fn=limit, timeout=300)
    return proc, time.monotonic() - start


@pytest.mark.child
@pytest.mark.parametrize("name", ["opcode-flood"])
def test_hubrl_evaluate_on_a_hostile_repo_with_4_gib(hub, tmp_path, name):
    """The child gets the default memory limit (2 GiB) inside hubrl's 4 GiB; CPU is capped low to stay fast.

    A memory flood: the attack a cap on hubrl's own address space is about. The crash is handled by the same code
    (``test_hostile_file_ends_in_one_line[deep-tuple-key]``); every hostile repo runs here in the slow suite.
    """
    repo_id = upload_hostile(hub, tmp_path, name)
    env = {**os.environ, "HUBRL_CACHE": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf"),
           "HUBRL_COURSE_CPU_S": "10"}
    proc, seconds = run_capped(["evaluate", repo_id, "--endpoint", hub.endpoint, "--n-eval-episodes", "1"], env)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"hubrl: error: {repo_id}/model.pt could not be read safely: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert seconds < 60, f"took {seconds:.0f} s"


@pytest.mark.slow
@pytest.mark.child
@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_hostile_repo_through_the_cli_with_default_limits(hub, tmp_path, name):
    repo_id = upload_hostile(hub, tmp_path, name)
    env = {**os.environ, "HUBRL_CACHE": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf")}
    proc, seconds = run_capped(["evaluate", repo_id, "--endpoint", hub.endpoint, "--n-eval-episodes", "1"], env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()][-1].startswith("hubrl: error: ")
    assert seconds < 60, f"took {seconds:.0f} s"


def test_malicious_call_is_still_named_behind_unsupported_opcodes(tmp_path):
    """Protocol 4 (STACK_GLOBAL) is not read by torch's unpickler, but a payload in it is still reported."""
    pkl = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x8c\x04echo\x85R."
    with pytest.raises(HubrlError, match=r"it references os\.system.*may be malicious"):
        load_course_model(archive(tmp_path / "model.pt", pkl), limits=LOW)
