"""The course leaderboard, read the way the course reads it, plus what the course never does: check the claims.

- :mod:`~hubrl.ranking.claims`: :class:`Claim`, the one reading of a repo (env, claim, problems, verification
  state), :func:`rank`, the one order; score, pass mark, impossible claims, the verification tolerance (pure).
- :mod:`~hubrl.ranking.listing`: :func:`leaderboard`, the models tagged with an env id, ranked by mean - std.
- :mod:`~hubrl.ranking.verification`: :func:`verify_agent` / :func:`verify_entries`, re-evaluation in processes.
- :mod:`~hubrl.ranking.submission`: :func:`check_submission`, read -> diagnose -> verify -> repair -> commit -> rank.
- :mod:`~hubrl.ranking.repair`: the pure card repairs a submission commits.
- :mod:`~hubrl.ranking.table`: the leaderboard as text.
"""

from hubrl.ranking.claims import Claim, claim_tolerance, impossible_claims, judge_claim, pass_mark, rank, read_claim
from hubrl.ranking.listing import COURSE_LEADERBOARD_URL, LeaderboardEntry, leaderboard
from hubrl.ranking.repair import repair_metadata
from hubrl.ranking.submission import SubmissionReport, check_submission
from hubrl.ranking.table import format_table, format_verifications
from hubrl.ranking.verification import Verification, verify_agent, verify_entries

__all__ = [
    "COURSE_LEADERBOARD_URL", "Claim", "LeaderboardEntry", "SubmissionReport", "Verification", "check_submission",
    "claim_tolerance", "format_table", "format_verifications", "impossible_claims", "judge_claim", "leaderboard",
    "pass_mark", "rank", "read_claim", "repair_metadata", "verify_agent", "verify_entries",
]
