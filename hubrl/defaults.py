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
EVAL_TIME_LIMIT = 900.0
"""Wall-clock seconds ``hubrl evaluate``/``enjoy`` and a verification may spend playing an agent unless told otherwise:
someone else's agent may be built to be slow. The slowest honest case measured, a random ALE Pong agent on pixels,
takes about 90 s for 10 episodes on a loaded 2-core machine; the reference agents of CartPole and the PLE games a
few seconds."""
VERIFY_MEMORY_BYTES = 1 << 30
"""Address space of one verification in the local Hub's bounded child. Loading and playing the reference agents of
CartPole, Pixelcopter, Pong-PLE and a ram ALE Pong agent all run within 256 MiB (measured); a course model.pt is read
by a further child whose torch import alone takes 550-600 MiB, so 1 GiB leaves room for both."""
HUB_USER_STORAGE = 1 << 30
"""Bytes of content one user's repositories may keep on a local Hub (``hubrl hub serve --max-storage-per-user``;
why this much: :mod:`hubrl.server.quotas`)."""
HUB_USER_REPOS = 100
"""Repositories one user may own on a local Hub (``--max-repos-per-user``)."""
HUB_REPO_FILES = 1000
"""Files one repository of a local Hub may hold (``--max-files-per-repo``)."""
