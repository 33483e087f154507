"""``hubrl leaderboard`` and ``hubrl submit``: argument parsing and printing; :mod:`hubrl.ranking` does the work."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hubrl.cli.options import add_hub_options, add_json_option, positive
from hubrl.defaults import DEFAULT_VERIFY_TOP

LEADERBOARD_EPILOG = """examples:
  hubrl leaderboard CartPole-v1                       ranked by claimed mean - std, as the course ranks
  hubrl leaderboard CartPole-v1 --verify 5            re-evaluate the top 5 and flag claims that do not hold
  hubrl leaderboard Pixelcopter-PLE-v0 --author alice --json

Claims are flagged as impossible (above the env's best possible return, e.g. 500 on CartPole-v1) or, with
--verify, as far outside the measured range: |claimed mean - measured mean| > max(3 x measured std, 5% of the env's
return range), measured over 10 seeded episodes (seeds 0..9, the env's max_t).
"""

SUBMIT_EPILOG = """examples:
  hubrl submit alice/Reinforce-CartPole-v1            will it appear, where, and what keeps it off
  hubrl submit alice/Reinforce-CartPole-v1 --fix      repair the card's metadata (one commit, README.md only)
  hubrl submit alice/Reinforce-CartPole-v1 --verify   re-evaluate and record hubrl_verification (one commit)

Exit status: 0 when the model will appear on the leaderboard (and, with --verify, could be re-evaluated), else 1.
"""


def _ranking_options(p: argparse.ArgumentParser) -> None:
    add_hub_options(p)
    p.add_argument("--cache-dir", type=Path, default=None, help="download cache (default: the huggingface_hub cache)")
    add_json_option(p)


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="rank the Hub's models for an env as the course leaderboard does",
                       description="List the models tagged ENV_ID on the Hub, parse each card's first model-index "
                                   "metric ('X +/- Y'; a lone number means std 0) and rank them by mean - std, "
                                   "as the Deep RL Course leaderboard does. Unparseable cards are listed, unranked.",
                       epilog=LEADERBOARD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env_id", metavar="ENV_ID", help="the env tag, e.g. CartPole-v1")
    p.add_argument("--limit", type=positive, default=None, metavar="N", help="show the first N (all pages are read)")
    p.add_argument("--author", default=None, metavar="USER", help="only this user's models")
    p.add_argument("--verify", type=positive, nargs="?", const=DEFAULT_VERIFY_TOP, default=None, metavar="N",
                   help=f"re-evaluate the top N agents in parallel processes (default {DEFAULT_VERIFY_TOP})")
    p.add_argument("--workers", type=positive, default=None, help="verification processes (default min(N, CPUs))")
    p.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="with --verify: verify on this Ray cluster (HEAD:PORT of `ray start --head`; hubrl[ray])")
    _ranking_options(p)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("submit", help="check whether and where a model will appear on the course leaderboard",
                       description="Check a repo's card exactly as the course leaderboard reads it, explain each "
                                   "problem with its fix, compare with the course pass mark and show the rank it "
                                   "would take among the models listed now.",
                       epilog=SUBMIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("repo_id", metavar="REPO_ID", help="namespace/name")
    p.add_argument("--verify", action="store_true",
                   help="re-evaluate with hubrl's seeded protocol; record hubrl_verification in results.json and "
                        "the card (one commit; the Hub's verified flag stays false)")
    p.add_argument("--fix", action="store_true",
                   help="repair the card's YAML metadata only (tags, model-index) in one commit of README.md")
    _ranking_options(p)
    p.set_defaults(func=cmd_submit)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from hubrl.hub import HubClient
    from hubrl.ranking import format_table, format_verifications, leaderboard, pass_mark, verify_entries

    if args.ray and not args.verify:
        from hubrl.errors import ConfigError

        raise ConfigError("--ray runs the verification on a cluster: add --verify N")
    client = HubClient(endpoint=args.endpoint, token=args.token)
    entries = leaderboard(args.env_id, author=args.author, client=client, cache_dir=args.cache_dir)
    shown = entries[: args.limit] if args.limit else entries
    if args.verify:
        verify_entries(entries, args.verify, client=client, cache_dir=args.cache_dir, workers=args.workers,
                       ray_address=args.ray)
    if args.json:
        print(json.dumps({"env_id": args.env_id, "endpoint": client.endpoint, "pass_mark": pass_mark(args.env_id),
                          "n_listed": len(entries), "n_ranked": sum(e.rank is not None for e in entries),
                          "entries": [e.to_json() for e in shown]}))
        return 0
    print(format_table(entries, shown, env_id=args.env_id, endpoint=client.endpoint))
    verified = format_verifications(entries)
    if verified:
        print()
        print(verified)
    return 0


def leaderboard_note(url: str | None) -> str:
    """When a push shows there: the course's Space refreshes on a schedule (with a refresh button), a local Hub at once."""
    from hubrl.ranking.listing import COURSE_LEADERBOARD_URL

    if url == COURSE_LEADERBOARD_URL:
        return "it refreshes on a schedule: if your model is not there yet, click the refresh button at the bottom"
    return "this Hub's own page: it shows every push at once"


def cmd_submit(args: argparse.Namespace) -> int:
    from hubrl.hub import HubClient
    from hubrl.ranking import check_submission

    report = check_submission(args.repo_id, client=HubClient(args.endpoint, args.token), verify=args.verify,
                              fix=args.fix, cache_dir=args.cache_dir)
    ok = report.would_appear and (report.verification is None or report.verification.ok)
    if args.json:
        print(json.dumps(report.to_json()))
        return 0 if ok else 1
    env = report.env_id or "an unknown environment"
    if report.commit:
        print(f"committed {report.commit} to {report.repo_id}:")
        for change in report.changes:
            print(f"  {change}")
    for note in report.notes:
        print(note)
    for fixed in report.fixed:
        print(f"fixed: {fixed}")
    if report.would_appear:
        print(f"{report.repo_id} will appear on the {env} leaderboard: {report.leaderboard_url} "
              f"({leaderboard_note(report.leaderboard_url)})")
    else:
        print(f"{report.repo_id} will NOT appear on the {env} leaderboard:")
    for problem in report.problems:
        print(f"  problem: {problem}")
    if not args.fix and any(p.fixable for p in report.problems):
        print(f"  fix the metadata with: hubrl submit {report.repo_id} --fix (one commit, README.md front matter only)")
    if report.score is not None:
        mark = report.pass_mark
        verdict = "" if mark is None else (
            f"; course pass mark {mark:g}: {'PASSED' if report.passes else 'not reached'}")
        print(f"claimed: {report.mean:.2f} +/- {report.std:.2f} (score {report.score:.2f}){verdict}")
        where = "would rank" if report.would_appear else "would rank once fixed"
        print(f"{where} {report.rank} of {report.n_ranked} among the models listed now for {env}"
              + ("" if report.listed or not report.would_appear else " (not in the listing yet)"))
    for flag in report.flags:
        print(f"  flag: {flag}")
    v = report.verification
    if v is not None:
        if v.error:
            print(f"verification failed: {v.error}")
        else:
            passes = "" if v.passes is None else f", {'passes' if v.passes else 'misses'} the pass mark"
            print(f"hubrl verification: {v.mean_reward:.2f} +/- {v.std_reward:.2f} (score {v.score:.2f}{passes}) "
                  f"over {v.n_episodes} seeded episodes: {v.verdict}; recorded as hubrl_verification "
                  "(the Hub's verified flag stays false)")
    elif report.recorded_verification:
        r = report.recorded_verification
        try:
            measured = f"{float(r['mean_reward']):.2f} +/- {float(r['std_reward']):.2f}"
        except (KeyError, TypeError, ValueError):
            measured = "unreadable"
        print(f"recorded hubrl verification ({r.get('date', '?')}): {measured}"
              + (f"; flags: {'; '.join(map(str, r['flags']))}" if r.get("flags") else ""))
    return 0 if ok else 1
