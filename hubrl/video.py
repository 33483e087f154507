"""Replay videos: one seeded episode rendered to an H.264 mp4 (yuv420p) through imageio-ffmpeg.

x264 runs with its ``veryfast`` preset: the encoder, which a recording mostly waits for, takes 20-35% less time
than with the default ``medium``, for files of about the same size (measured on the reference agents: CartPole
38 vs 39 KiB, Pong 77 vs 83 KiB, Pixelcopter 192 vs 165 KiB for 1500 frames).

Small games (48x48 Pixelcopter) are upscaled by an integer factor with nearest-neighbour so pixels stay sharp;
frames are then padded (never stretched) to the 16-pixel blocks the codec wants by repeating their edge pixels, so
the padding is the scene's own background (CartPole's 600x400 gets 4 white columns each side, not black bars). A
path ending in ``.gif`` gets an animated GIF (ffmpeg's gif encoder, 256 colours); any other suffix but ``.mp4`` is
refused. The recording always ends: the episode is capped at ``max_frames``. A video that cannot be produced raises
:class:`VideoError`; it is never skipped silently, and a failed recording leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubrl.defaults import DEFAULT_EVAL_SEED, DEFAULT_FPS, DEFAULT_MAX_FRAMES
from hubrl.episodes import SeededEpisodes, episode_steps
from hubrl.errors import AgentFormatError, VideoError, first_line
from hubrl.folders import FILE_MODE
from hubrl.policy import Actor, env_actions, one_blas_thread

MIN_SHORT_SIDE = 256
"""Frames whose shorter side is below this are upscaled by the smallest integer factor that reaches it."""
BLOCK = 16
FORMATS = (".mp4", ".gif")
"""What a replay path may end with (the suffix chooses the format)."""


@dataclass
class Recording:
    """What :func:`record_video` wrote."""

    path: Path
    frames: int
    fps: int
    width: int
    height: int
    episode_return: float
    seed: int
    truncated_by_cap: bool


def upscale_factor(height: int, width: int) -> int:
    return max(1, math.ceil(MIN_SHORT_SIDE / min(height, width)))


def prepare_frame(frame: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscale by ``factor``, then pad to multiples of 16 (centred) with the frame's edge pixels."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise VideoError(f"render() returned an array of shape {frame.shape}; expected (height, width, 3)")
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if factor > 1:
        frame = frame.repeat(factor, axis=0).repeat(factor, axis=1)
    h, w = frame.shape[:2]
    ph, pw = (-h) % BLOCK, (-w) % BLOCK
    if ph or pw:
        frame = np.pad(frame, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="edge")
    return frame


def first_frame(env, env_id: str) -> tuple[np.ndarray, int, tuple[int, int]]:
    """The just-reset env's frame, its upscale factor and the encoded (height, width).

    Raises:
        VideoError: the env renders nothing (no ``render_mode="rgb_array"``).
    """
    first = env.render()
    if first is None:
        raise VideoError(f"{env_id} rendered nothing; it needs render_mode='rgb_array' support")
    factor = upscale_factor(*np.asarray(first).shape[:2])
    height, width = prepare_frame(first, factor).shape[:2]
    return first, factor, (height, width)


def check_video_path(out_path: str | Path) -> Path:
    """``out_path`` if its folder exists and its suffix names a format hubrl writes (.mp4 or .gif).

    Raises:
        VideoError: another suffix, or a folder that does not exist.
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() not in FORMATS:
        raise VideoError(f"cannot write {out_path}: replays are written as .mp4 (H.264) or .gif; "
                         f"name the file replay.mp4 or replay.gif")
    if not out_path.parent.exists():
        raise VideoError(f"cannot write {out_path}: folder {out_path.parent} does not exist")
    return out_path


@contextlib.contextmanager
def video_writer(out_path: Path, *, fps: int, size: tuple[int, int]) -> Iterator[Callable[[np.ndarray], None]]:
    """``append(frame)`` for frames of ``size`` (height, width) already made by :func:`prepare_frame`.

    The file is written beside ``out_path`` under a hidden name and moved into place only when the block ends
    without an error; otherwise nothing is left behind. The suffix chooses mp4 (H.264 yuv420p) or GIF.
    """
    suffix = out_path.suffix.lower()
    fd, tmp_name = tempfile.mkstemp(suffix=suffix, dir=out_path.parent, prefix=".replay-")
    os.close(fd)
    try:
        if suffix == ".gif":
            import imageio_ffmpeg

            gen = imageio_ffmpeg.write_frames(tmp_name, (size[1], size[0]), fps=fps, codec="gif",
                                              pix_fmt_in="rgb24", pix_fmt_out="rgb8", macro_block_size=1,
                                              ffmpeg_log_level="error", output_params=["-f", "gif"])
            gen.send(None)
            try:
                yield lambda frame: gen.send(np.ascontiguousarray(frame))
            finally:
                gen.close()
        else:
            import imageio.v2 as imageio

            writer = imageio.get_writer(
                tmp_name, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
                macro_block_size=BLOCK, ffmpeg_log_level="error",
                output_params=["-preset", "veryfast", "-movflags", "+faststart"],
            )
            with writer:
                yield writer.append_data
        os.chmod(tmp_name, FILE_MODE)  # mkstemp made it 0600; a run folder's files are all 0644
        os.replace(tmp_name, out_path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def record_video(
    policy: Actor,
    out_path: str | Path,
    *,
    env_id: str | None = None,
    seed: int = DEFAULT_EVAL_SEED,
    max_frames: int = DEFAULT_MAX_FRAMES,
    fps: int | None = None,
    deterministic: bool = False,
) -> Recording:
    """Render one seeded episode of ``policy`` to ``out_path`` (mp4 or GIF).

    Args:
        policy: the agent to film (a :class:`~hubrl.policy.Policy` or the torch network training returns).
        out_path: the video to write, ``.mp4`` or ``.gif`` (replaced only when the new video is complete).
        env_id: defaults to the policy's env.
        seed: the episode's reset seed; actions are sampled from a generator with the same seed, so the replay is
            exactly evaluation episode ``seed``.
        max_frames: cap on the number of frames, so a recording always ends.
        fps: defaults to the env's ``render_fps`` metadata (30 if it has none).

    Raises:
        VideoError: the env cannot render, the folder does not exist, the suffix is neither .mp4 nor .gif, or
            encoding failed (no file is left then).

    Example:
        >>> record_video(agent.policy, "replay.mp4", seed=0)
    """
    env_id = env_id or policy.config.env_id
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # rgb_array drawing needs no window or sound
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    if max_frames <= 0:
        raise VideoError(f"max_frames must be positive, got {max_frames}")
    out_path = check_video_path(out_path)
    try:
        episode = SeededEpisodes(env_id, [seed], observation=policy.config.env_options, render_mode="rgb_array")
    except Exception as err:
        raise VideoError(f"cannot create {env_id} with render_mode='rgb_array': {err}") from err
    env = episode.envs[0]
    fps = int(fps or env.metadata.get("render_fps") or DEFAULT_FPS)
    total = 0.0
    done = False
    try:
        episode.check_fits(policy.config)
        obs = episode.reset()
        first, factor, (height, width) = first_frame(env, env_id)
        with video_writer(out_path, fps=fps, size=(height, width)) as append:
            append(prepare_frame(first, factor))
            frames = 1
            sampler = policy.sampler()
            act = episode.actor(sampler, deterministic=deterministic)
            # diverged weights: see NumpySampler.logits
            with np.errstate(over="ignore", invalid="ignore"), one_blas_thread(sampler):
                # the first frame is the reset's: max_frames frames show max_frames - 1 steps
                for _, _, reward, _, ended in episode_steps(episode, obs, act, max_steps=max_frames - 1,
                                                            env_action=env_actions(sampler)):
                    append(prepare_frame(env.render(), factor))
                    frames += 1
                    total += float(reward[0])
                    done = bool(ended[0])
    except (VideoError, AgentFormatError):
        raise
    except Exception as err:
        raise VideoError(f"could not write {out_path}: {first_line(err)}") from err
    finally:
        episode.close()
    return Recording(path=out_path, frames=frames, fps=fps, width=width, height=height, episode_return=total,
                     seed=seed, truncated_by_cap=not done)
