"""``hubrl push`` (:func:`hubrl.hub.push_to_hub`) and ``hubrl hub serve/token`` (the local Hub, :mod:`hubrl.server`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hubrl.cli.options import add_hub_options, count, positive, size, stderr
from hubrl.defaults import EVAL_TIME_LIMIT, HUB_REPO_FILES, HUB_USER_REPOS, HUB_USER_STORAGE, VERIFY_MEMORY_BYTES


def register(sub) -> None:
    p = sub.add_parser("push", help="push a run folder to a Hub repo in one commit",
                       description="Validate a run folder and its card, then push every file in ONE commit. "
                                   "Identical content makes no new commit; a hubrl-generated card is committed "
                                   "rendered for the repo id, and the folder itself is never modified. Endpoint and "
                                   "token: --endpoint/--token, else HF_ENDPOINT/HF_TOKEN, else the stored login.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--repo-id", required=True, help="namespace/name (created if missing)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", default=None, help="branch to commit to (default main)")
    p.add_argument("--commit-message", default=None)
    p.add_argument("--dry-run", action="store_true", help="print files, sizes and card metadata; send nothing")
    p.add_argument("--remove-pickle", action="store_true",
                   help="delete the repo's course model.pt (a pickle) in the same commit (after hubrl convert)")
    add_hub_options(p)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("hub", help="run a local Hub-compatible server and manage its users",
                       description="A local, persistent Hub that the official huggingface_hub client talks to "
                                   "(HF_ENDPOINT=http://HOST:PORT).")
    hub_sub = p.add_subparsers(dest="hub_command", metavar="HUB_COMMAND", required=True)
    q = hub_sub.add_parser("serve", help="serve the local Hub until Ctrl-C")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=int, default=8080)
    q.add_argument("--data", type=Path, default=None, help="data folder (default $HUBRL_HUB_DATA or ~/.cache/hubrl/hub)")
    q.add_argument("--certfile", type=Path, default=None,
                   help="serve HTTPS with this PEM certificate (chain), so tokens do not cross the network in clear; "
                        "clients trust it with SSL_CERT_FILE=CERTFILE")
    q.add_argument("--keyfile", type=Path, default=None, help="the certificate's private key (PEM), unless in CERTFILE")
    q.add_argument("--max-storage-per-user", type=size, default=HUB_USER_STORAGE, metavar="SIZE",
                   help=f"content one user's repositories may keep, history included (e.g. 500MiB, 2GiB; 0: no "
                        f"limit; default {HUB_USER_STORAGE >> 30} GiB)")
    q.add_argument("--max-repos-per-user", type=count, default=HUB_USER_REPOS, metavar="N",
                   help=f"repositories one user may own (0: no limit; default {HUB_USER_REPOS})")
    q.add_argument("--max-files-per-repo", type=count, default=HUB_REPO_FILES, metavar="N",
                   help=f"files in one repository (0: no limit; default {HUB_REPO_FILES})")
    v = q.add_argument_group("verifier", "the Hub re-evaluates every pushed claim itself, one bounded child process "
                                         "at a time, and shows 'verified' only from its own verdicts")
    v.add_argument("--no-verify", dest="verify", action="store_false",
                   help="do not check claimed scores (pages show verdicts already stored)")
    v.add_argument("--verify-memory", type=positive, default=None, metavar="MIB",
                   help=f"address space of each check, MiB (default {VERIFY_MEMORY_BYTES >> 20})")
    v.add_argument("--verify-cpu", type=positive, default=None, metavar="SECONDS",
                   help=f"CPU time of each check (default {EVAL_TIME_LIMIT:g})")
    v.add_argument("--verify-time", type=positive, default=None, metavar="SECONDS",
                   help=f"wall-clock time of each check (default {EVAL_TIME_LIMIT:g})")
    q.set_defaults(func=cmd_hub_serve)
    q = hub_sub.add_parser("gc", help="free the space of content no commit reaches, even while the Hub runs",
                           description="Remove the blobs no commit reaches any more, commit files no branch reaches "
                                       "and files an interrupted server left, then print what each user keeps. Safe "
                                       "beside a running server (each repository is collected under its owner's "
                                       "lock). Deletions free their space at once anyway: this is for data written "
                                       "by older versions of hubrl and for what a crash left.")
    q.add_argument("--data", type=Path, default=None, help="data folder of the local Hub")
    q.set_defaults(func=cmd_hub_gc)
    q = hub_sub.add_parser("token", help="create a user (if new) and print a new write token for it")
    q.add_argument("user", metavar="USER")
    q.add_argument("--data", type=Path, default=None, help="data folder of the local Hub")
    q.set_defaults(func=cmd_hub_token)
    q = hub_sub.add_parser("class", help="tokens for a whole roster (one user per line), printed once",
                           description="Create a user and a new write token for every student of ROSTER (a text "
                                       "file, one user name per line) and print each student's HF_ENDPOINT and "
                                       "HF_TOKEN lines. Tokens are shown once; only their hashes are stored.")
    q.add_argument("roster", metavar="ROSTER", type=Path)
    q.add_argument("--endpoint", default="http://127.0.0.1:8080",
                   help="the URL students reach the Hub at (e.g. http://192.168.1.10:8080)")
    q.add_argument("--data", type=Path, default=None, help="data folder of the local Hub")
    q.set_defaults(func=cmd_hub_class)


def cmd_push(args: argparse.Namespace) -> int:
    from hubrl.hub import HubClient

    result = HubClient(args.endpoint, args.token).push_to_hub(
        args.run_dir, args.repo_id, private=args.private, revision=args.revision, commit_message=args.commit_message,
        dry_run=args.dry_run, delete_paths=("model.pt",) if args.remove_pickle else ())
    print(result.summary())
    return 0


def cmd_hub_serve(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hubrl.ranking.sandbox import SandboxLimits
    from hubrl.server import VerifierOptions, default_data_dir, serve
    from hubrl.server.quotas import Quotas

    changes = {name: value for name, value in (("memory_bytes", args.verify_memory and args.verify_memory << 20),
                                               ("cpu_seconds", args.verify_cpu), ("wall_seconds", args.verify_time))
               if value}
    try:
        limits = replace(SandboxLimits(), **changes)
    except ValueError as err:
        from hubrl.errors import ConfigError

        raise ConfigError(f"--verify-*: {err}") from None
    quotas = Quotas(storage_bytes=args.max_storage_per_user or None, repos=args.max_repos_per_user or None,
                    files_per_repo=args.max_files_per_repo or None)
    serve(host=args.host, port=args.port, data_dir=args.data or default_data_dir(), certfile=args.certfile,
          keyfile=args.keyfile, quotas=quotas, verifier=VerifierOptions(enabled=args.verify, limits=limits))
    return 0


def cmd_hub_gc(args: argparse.Namespace) -> int:
    from hubrl.server import collect_garbage, default_data_dir
    from hubrl.server.quotas import format_bytes

    data = args.data or default_data_dir()
    report = collect_garbage(data)
    print(f"removed {report.collected.blobs} blobs ({format_bytes(report.collected.bytes)}) and "
          f"{report.collected.files} leftover files in {data}")
    for user, usage in report.usage.items():
        print(f"{user}: {format_bytes(usage.bytes)} in {usage.repos} repositories")
    return 0


def cmd_hub_token(args: argparse.Namespace) -> int:
    from hubrl.server import create_token, default_data_dir

    data = args.data or default_data_dir()
    token = create_token(data, args.user)
    stderr(f"new token for {args.user} on the local Hub in {data} (shown once; use it as HF_TOKEN):")
    print(token)
    return 0


def cmd_hub_class(args: argparse.Namespace) -> int:
    from hubrl.server import default_data_dir
    from hubrl.server.classroom import create_class_tokens, student_lines

    data = args.data or default_data_dir()
    tokens = create_class_tokens(data, args.roster)
    stderr(f"{len(tokens)} new tokens on the local Hub in {data} (shown once; give each student their lines):")
    for user, token in tokens.items():
        print(f"# {user}\n{student_lines(args.endpoint, token)}")
    return 0
