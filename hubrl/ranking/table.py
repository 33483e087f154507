"""The leaderboard as text: the ranking table and the verification table (``hubrl leaderboard``, ``hubrl demo``)."""

from __future__ import annotations

from hubrl.defaults import VERIFY_EPISODES, VERIFY_SEED
from hubrl.ranking.claims import pass_mark
from hubrl.ranking.listing import LeaderboardEntry


def _num(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _verified_cell(entry: LeaderboardEntry) -> str:
    return {"verified": "hubrl ok", "flagged": "hubrl FLAG", "error": "load failed", "self-reported": "self-rep.",
            "unverified": "no"}[entry.verification_state]


def format_table(entries: list[LeaderboardEntry], shown: list[LeaderboardEntry] | None = None, *, env_id: str,
                 endpoint: str) -> str:
    """The leaderboard as text: a header line, then rank, repo, mean, std, score, pass mark met, verified, notes."""
    shown = entries if shown is None else shown
    mark = pass_mark(env_id)
    ranked = sum(e.rank is not None for e in entries)
    mark_text = f"course pass mark: mean - std >= {mark:g}" if mark is not None else "no course pass mark"
    lines = [f"{env_id} on {endpoint}: {len(entries)} models tagged, {ranked} ranked by mean - std ({mark_text})"]
    if not shown:
        return "\n".join(lines + ["no models are tagged with this env id"])
    width = max(24, *(len(e.repo_id) for e in shown))
    lines.append(f"{'rank':>4}  {'repo':<{width}}  {'mean':>8}  {'std':>8}  {'score':>8}  {'pass':<4}  "
                 f"{'verified':<11}  notes")
    for e in shown:
        notes = e.unranked_reason or "; ".join(e.flags)
        lines.append(f"{e.rank if e.rank is not None else '-':>4}  {e.repo_id:<{width}}  {_num(e.mean)}  "
                     f"{_num(e.std)}  {_num(e.score)}  {_yes_no(e.passes):<4}  {_verified_cell(e):<11}  {notes}".rstrip())
    return "\n".join(lines)


def format_verifications(entries: list[LeaderboardEntry]) -> str:
    """The verified entries as text (claimed vs measured, verdict); empty when none was verified."""
    verified = [e for e in entries if e.verification is not None]
    if not verified:
        return ""
    width = max(24, *(len(e.repo_id) for e in verified))
    lines = [f"verification: {len(verified)} agents re-evaluated over {VERIFY_EPISODES} seeded episodes "
             f"(seeds {VERIFY_SEED}..{VERIFY_SEED + VERIFY_EPISODES - 1}) by this run (--verify) or by the Hub's own "
             "verifier, flagged when |claimed - measured mean| > max(3 x measured std, 5% of the return range)",
             f"{'rank':>4}  {'repo':<{width}}  {'claimed':>18}  {'measured':>18}  {'score':>8}  {'checked by':<10}  "
             "verdict"]
    for e in verified:
        v = e.verification
        claimed = f"{e.mean:.2f} +/- {e.std:.2f}" if e.mean is not None and e.std is not None else "-"
        measured = f"{v.mean_reward:.2f} +/- {v.std_reward:.2f}" if v.ok else "-"
        verdict = (f"cannot verify here: {v.error}" if not v.playable else f"cannot load: {v.error}" if v.error else
                   ("FLAGGED: " + "; ".join(v.flags)) if v.flags else "consistent")
        lines.append(f"{e.rank if e.rank is not None else '-':>4}  {e.repo_id:<{width}}  {claimed:>18}  "
                     f"{measured:>18}  {_num(v.score)}  {v.checked_by:<10}  {verdict}")
    return "\n".join(lines)
