"""Default seeds and caps, one definition each, importable without torch (the CLI builds its help from them)."""

DEFAULT_EVAL_SEED = 0
"""Base seed of the final evaluation: episodes use seeds 0, 1, ..., n-1 unless told otherwise."""
VALIDATION_SEED = 100_000
"""Base seed of validation evaluations during training (disjoint from evaluation seeds: no selection on the test)."""
TRAIN_SEED_OFFSET = 1_000_000
"""Training episodes use env seeds from here on (disjoint from evaluation and validation seeds)."""
DEFAULT_FPS = 30
"""Replay frame rate when an env's metadata names none."""
DEFAULT_MAX_FRAMES = 3000
"""Replay frame cap, so a recording always ends."""
VERIFY_EPISODES = 10
"""Episodes of a leaderboard verification (seeds VERIFY_SEED, VERIFY_SEED + 1, ...)."""
VERIFY_SEED = 0
"""Base seed of a leaderboard verification."""
DEFAULT_VERIFY_TOP = 5
"""How many of the top-ranked agents ``hubrl leaderboard --verify`` re-evaluates when given no number."""
HUB_USER_STORAGE = 1 << 30
"""Bytes of content one user's repositories may keep on a local Hub (``hubrl hub serve --max-storage-per-user``;
why this much: :mod:`hubrl.server.quotas`)."""
HUB_USER_REPOS = 100
"""Repositories one user may own on a local Hub (``--max-repos-per-user``)."""
HUB_REPO_FILES = 1000
"""Files one repository of a local Hub may hold (``--max-files-per-repo``)."""
