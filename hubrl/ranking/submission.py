"""Will a repo appear on the course leaderboard, where, and what keeps it off; optionally fix and verify it.

:func:`check_submission` is a pipeline between ONE read and at most ONE commit:
read (card, results.json, hyperparameters.json at one commit) -> diagnose -> verify (optional) -> repair (pure) ->
commit -> re-rank among the models listed now. Every step but the read, the verification, the commit and the
listing is a pure function of what the read returned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hubrl.card import Problem, first_metric, format_metric, parse_metric, read_front_matter, replace_front_matter
from hubrl.errors import CardError
from hubrl.ranking.claims import Claim, ScoredRecord, judge_claim, rank_of, read_claim
from hubrl.ranking.listing import leaderboard
from hubrl.ranking.repair import card_with_verification, repair_metadata
from hubrl.ranking.verification import Verification, verify_agent
from hubrl.records import VERIFICATION_KEY

from hubrl.connection import HubConnection, check_repo_id


@dataclass
class SubmissionReport(ScoredRecord):
    """Whether and where a repo will appear on the course leaderboard, what keeps it off, and what was done."""

    repo_id: str
    endpoint: str
    env_id: str | None
    problems: list[Problem]
    """What still keeps the card off the leaderboard or misreports it, each with its fix (after any ``fix``)."""
    would_appear: bool
    """Public, tagged with the env id, and a first metric the leaderboard can parse."""
    metric_value: Any = None
    mean: float | None = None
    std: float | None = None
    rank: int | None = None
    """The rank its claimed score takes among the models listed now for the env (:func:`~hubrl.ranking.rank`'s
    order: the same as ``hubrl leaderboard`` and the leaderboard page)."""
    n_ranked: int = 0
    """How many models that ranking counts, this one included."""
    listed: bool = False
    """Whether the listing already shows it (the real course leaderboard refreshes on a schedule)."""
    flags: list[str] = field(default_factory=list)
    fixed: list[Problem] = field(default_factory=list)
    """Problems the ``fix`` repaired."""
    changes: list[str] = field(default_factory=list)
    """What the commit changed, one line each."""
    commit: str | None = None
    verification: Verification | None = None
    recorded_verification: dict[str, Any] | None = None
    """The ``hubrl_verification`` already in the repo's results.json (from an earlier ``--verify``), if any: what
    the repo says of itself, shown as self-reported."""
    notes: list[str] = field(default_factory=list)
    leaderboard_url: str | None = None
    """Where to see the ranking: the local Hub's leaderboard page, or the course's Space on huggingface.co."""


@dataclass(frozen=True)
class RepoState:
    """One read of a repo at one commit: its card (text and metadata), results.json, hyperparameters.json,
    config.json, and the :class:`~hubrl.ranking.claims.Claim` they make."""

    repo_id: str
    sha: str
    private: bool | None
    readme: str | None
    results: dict | None
    hyperparameters: dict | None
    metadata: dict | None
    """The card's raw YAML metadata; None without a card, front matter, or when it is unreadable."""
    front_error: str | None = None
    """Why the front matter could not be read, if it could not."""
    config: dict | None = None

    def claim(self, metadata: dict | None = None, readme: str | None = None) -> Claim:
        """The claim this state makes, or would make with another card (``metadata``, ``readme``)."""
        changed = metadata is not None
        return read_claim(self.repo_id, metadata=metadata if changed else self.metadata,
                          card_error=None if changed else self.front_error,
                          has_card=(readme if changed else self.readme) is not None, results=self.results,
                          hyperparameters=self.hyperparameters, config=self.config, private=self.private,
                          sha=self.sha)

    @property
    def env_id(self) -> str | None:
        """The env the model plays, by :data:`hubrl.ranking.claims.ENV_SOURCES`."""
        return self.claim().env_id


@dataclass(frozen=True)
class Repair:
    """What the repair step decided: the new card and results.json (None: unchanged), and why."""

    readme: str | None
    metadata: dict | None
    results: dict | None = None
    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    commit_parts: tuple[str, ...] = ()
    """The commit message's parts; empty when nothing is to be committed."""
    verification: Verification | None = None
    """The verification judged against the claim the card ends up with."""


def check_submission(
    repo_id: str,
    *,
    verify: bool = False,
    fix: bool = False,
    cache_dir: str | Path | None = None,
    client: HubConnection | None = None,
) -> SubmissionReport:
    """Tell a student whether and where ``repo_id`` will appear on the course leaderboard.

    Checks the card exactly as the leaderboard reads it (public repo, env tag, model-index, first metric
    ``"X +/- Y"``, task and dataset ids), compares the claim with the course pass mark and finds the rank it takes
    among the models listed now for the env.

    ``fix`` repairs the card's YAML metadata only (tags, model-index), deriving the env id and the metric from
    results.json / hyperparameters.json when the card lacks them; the README body and every other file stay
    byte-identical. ``verify`` re-evaluates the agent with hubrl's seeded protocol and records the result under
    ``hubrl_verification`` in results.json and in the card body (the Hub's ``verified`` flag stays false).
    Whatever changes goes into ONE commit (README.md, plus results.json with ``verify``), on top of the commit read.

    Args:
        repo_id: ``namespace/name``.
        client: the Hub (a :class:`hubrl.hub.HubClient`; default: ``HF_ENDPOINT`` / ``HF_TOKEN`` at call time).
        verify, fix: see above; both need a write token for the repo's namespace.
        cache_dir: the download cache.

    Raises:
        ConfigError: an invalid repo id.
        RepoNotFoundError: no such repo (or a private one the token cannot see).
        NotAuthorizedError: ``fix``/``verify`` without a valid token, or one that may not write there.
        CardError: ``fix`` cannot tell the env or derive an honest metric (``verify`` measures one).
        HubUnreachableError, HubError: the Hub did not answer or refused.

    Example:
        >>> report = check_submission("alice/Reinforce-CartPole-v1")
        >>> report.would_appear, report.rank, report.problems
    """
    check_repo_id(repo_id)
    client = client or HubConnection()
    state = read_repo(client, repo_id, cache_dir=cache_dir)
    if fix or verify:  # both commit: fail now, not after an evaluation, when no valid token is at hand
        client.require_login("hubrl submit --fix/--verify", repo_id)
    before = state.claim().problems
    verification = None
    if verify:
        verification = _verify(state, client, cache_dir=cache_dir)
    repair = plan_repair(state, before, verification, fix=fix)
    commit = _commit(client, state, repair)
    report, claim = report_for(state, before, repair, commit, endpoint=client.endpoint)
    if report.env_id and report.score is not None:
        listing = leaderboard(report.env_id, client=client, cache_dir=cache_dir)
        report.rank, report.n_ranked = rank_of(claim, listing)
        report.listed = any(e.repo_id == repo_id for e in listing)
    report.leaderboard_url = leaderboard_url(client.endpoint, report.env_id)
    return report


def leaderboard_url(endpoint: str, env_id: str | None) -> str:
    """Where people see the ranking: the course's Space on huggingface.co, the Hub's own page elsewhere."""
    from hubrl.ranking.listing import COURSE_LEADERBOARD_URL

    if endpoint.rstrip("/") in ("https://huggingface.co", "https://hf.co"):
        return COURSE_LEADERBOARD_URL
    return f"{endpoint.rstrip('/')}/leaderboard/{env_id}" if env_id else f"{endpoint.rstrip('/')}/leaderboard"


# -- read -----------------------------------------------------------------------------------------------------------

def read_repo(client: HubConnection, repo_id: str, *, cache_dir: str | Path | None = None) -> RepoState:
    """The one read: model info, then README.md, results.json and hyperparameters.json at that commit."""
    with client.translating(repo_id=repo_id):
        info = client.api.model_info(repo_id)
    files = {s.rfilename for s in (info.siblings or [])}

    def text(filename: str) -> str | None:
        if filename not in files:
            return None
        with client.translating(repo_id=repo_id, revision=info.sha):
            path = client.download(repo_id, filename, revision=info.sha, cache_dir=cache_dir)
        return path.read_bytes().decode("utf-8", errors="replace")

    readme = text("README.md")
    metadata, front_error = None, None
    try:
        metadata = read_front_matter(readme) if readme is not None else None
    except CardError as err:
        front_error = str(err)
    return RepoState(repo_id=repo_id, sha=info.sha, private=info.private, readme=readme,
                     results=_json_object(text("results.json")),
                     hyperparameters=_json_object(text("hyperparameters.json")),
                     config=_json_object(text("config.json")), metadata=metadata, front_error=front_error)


def _json_object(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


# -- diagnose, verify, repair (pure but the verification) -----------------------------------------------------------

def _verify(state: RepoState, client: HubConnection, *, cache_dir) -> Verification:
    if not state.env_id:
        return Verification(repo_id=state.repo_id, env_id="", error="cannot tell which environment it plays")
    mean, std = parse_metric(first_metric(state.metadata or {})[1]) or (None, None)
    return verify_agent(state.repo_id, state.env_id, claimed_mean=mean, claimed_std=std, client=client,
                        cache_dir=cache_dir)


def plan_repair(state: RepoState, problems: list[Problem], verification: Verification | None, *, fix: bool) -> Repair:
    """The new card (and results.json with a verification) for ``state``; pure.

    Raises:
        CardError: ``fix`` with fixable problems but no way to tell the env id or derive an honest metric.
    """
    readme, metadata, results, env_id = state.readme, state.metadata, None, state.env_id
    changes: list[str] = []
    notes: list[str] = []
    parts: list[str] = []
    if fix and any(p.fixable for p in problems):
        if env_id is None:
            raise CardError(f"cannot fix {state.repo_id}: neither the card nor results.json/hyperparameters.json "
                            "names the environment; add env_id to results.json or the card's model-index dataset")
        metadata, changed = repair_metadata(metadata, env_id, repo_id=state.repo_id, results=state.results,
                                            verification=verification)
        readme = replace_front_matter(readme or "", metadata)
        changes += changed
        parts.append("repair leaderboard metadata")
    elif fix:
        notes.append("the card's metadata is already what the leaderboard reads; nothing to fix")

    if verification is not None and verification.ok:
        claimed = parse_metric(first_metric(metadata or {})[1])
        if claimed is not None and claimed != (verification.claimed_mean, verification.claimed_std):
            # the fix set the claim: judge that one
            verification = replace(verification, claimed_mean=claimed[0], claimed_std=claimed[1],
                                   flags=judge_claim(env_id, *claimed, verification.mean_reward,
                                                     verification.std_reward))
        record = verification.record()
        results = {**(state.results or {"env_id": env_id}), VERIFICATION_KEY: record}
        readme = card_with_verification(readme, state.readme, state.hyperparameters, state.results, results, record,
                                        state.repo_id)
        changes.append(f"results.json: {VERIFICATION_KEY} = "
                       f"{format_metric(record['mean_reward'], record['std_reward'])}; card body: verification")
        parts.append("record hubrl verification")
    return Repair(readme=readme, metadata=metadata, results=results, changes=tuple(changes), notes=tuple(notes),
                  commit_parts=tuple(parts), verification=verification)


# -- commit ---------------------------------------------------------------------------------------------------------

def _commit(client: HubConnection, state: RepoState, repair: Repair) -> str | None:
    """ONE commit of what the repair changed, on top of the commit read; its id (None: nothing changed)."""
    from huggingface_hub import CommitOperationAdd

    operations = []
    if repair.readme is not None and repair.readme != state.readme:
        operations.append(CommitOperationAdd("README.md", repair.readme.encode("utf-8")))
    if repair.results is not None:
        operations.append(CommitOperationAdd("results.json", (json.dumps(repair.results, indent=2) + "\n").encode()))
    if not operations:
        return None
    with client.translating(repo_id=state.repo_id):
        commit = client.api.create_commit(state.repo_id, operations, parent_commit=state.sha,
                                          commit_message="hubrl submit: " + " and ".join(repair.commit_parts))
    return commit.oid


# -- report and rank (pure) -----------------------------------------------------------------------------------------

def report_for(state: RepoState, before: list[Problem], repair: Repair, commit: str | None, *,
               endpoint: str) -> tuple[SubmissionReport, Claim]:
    """The report on the repo as the commit leaves it, and its claim (ranked separately by :func:`rank_of`)."""
    claim = state.claim(repair.metadata, repair.readme) if repair.metadata is not state.metadata else state.claim()
    verification = repair.verification
    recorded = (repair.results or state.results or {}).get(VERIFICATION_KEY)
    after = claim.problems
    report = SubmissionReport(
        repo_id=state.repo_id, endpoint=endpoint, env_id=claim.env_id,
        problems=[p for p in after if p.code != "impossible"], would_appear=claim.would_appear,
        metric_value=claim.metric_value, mean=claim.mean, std=claim.std,
        fixed=[p for p in before if p not in after], changes=list(repair.changes), commit=commit,
        verification=verification, notes=list(repair.notes), flags=list(claim.flags),
        recorded_verification=recorded if isinstance(recorded, dict) else None,
    )
    if verification is not None and verification.ok:
        report.flags = list(dict.fromkeys([*report.flags, *verification.flags]))
    return report, claim
