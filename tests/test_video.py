"""Replay videos are real H.264 files that decode back, padded (not stretched) and capped."""

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from hubrl.errors import VideoError
from hubrl.network import PolicyNetwork
from hubrl.policy import PolicyConfig
from hubrl.video import prepare_frame, record_video, upscale_factor


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return PolicyNetwork(PolicyConfig("CartPole-v1", 4, 2, (16,))).to_policy()


def test_small_frames_are_upscaled_nearest_and_padded():
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[0, 0] = [255, 0, 0]
    factor = upscale_factor(48, 64)
    assert factor == 6
    out = prepare_frame(frame, factor)
    assert out.shape == (288, 384, 3)
    assert (out[:6, :6] == [255, 0, 0]).all() and (out[6:, 6:] == 0).all()
    source = np.full((50, 30, 3), 7, dtype=np.uint8)
    source[0] = 9  # the top row differs: padding repeats each edge (the scene's colour, no bars), no stretch
    odd = prepare_frame(source, 1)
    assert odd.shape == (64, 32, 3)
    assert (odd[7:57, 1:31] == source).all()  # centred content
    assert (odd[:8] == 9).all() and (odd[57:] == 7).all() and (odd[8:, 0] == 7).all()


def test_record_video_decodes_back(tmp_path, policy):
    path = tmp_path / "replay.mp4"
    rec = record_video(policy, path, seed=3, max_frames=400)
    assert rec.fps == 50  # CartPole's render_fps metadata
    frames = iio.imread(path, plugin="pyav") if _has_pyav() else np.stack(list(iio.imiter(path, plugin="FFMPEG")))
    assert len(frames) == rec.frames
    assert frames.shape[1:] == (400, 608, 3)  # 400x600 padded to multiples of 16
    assert frames.mean() > 10  # not a black video
    meta = iio.immeta(path, plugin="FFMPEG")
    assert meta["codec"] == "h264" and abs(meta["fps"] - 50) < 0.1
    assert not list(tmp_path.glob(".replay-*"))


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_frame_cap_always_ends(tmp_path, policy):
    rec = record_video(policy, tmp_path / "short.mp4", max_frames=5)
    assert rec.frames <= 5


def test_unwritable_destination_is_an_error(tmp_path, policy):
    with pytest.raises(VideoError, match="does not exist"):
        record_video(policy, tmp_path / "missing" / "replay.mp4")
