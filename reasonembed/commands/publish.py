"""`reasonembed publish DIR --repo-id ORG/NAME --version X.Y.Z [--private] [--dry-run]`: a
versioned Hub release of a generate output (`reasonembed.hub.release.publish`).

Authentication: HF_TOKEN or a huggingface_hub login (`hf auth login`); there is deliberately no
--token option (it would land in shell history and process lists). HF_ENDPOINT selects another
Hub (the tests use a loopback server). Ctrl-C or SIGTERM mid-upload leaves every earlier release
as it was and says in one line what reached the Hub (exit 130 or 143).
"""

from __future__ import annotations

import argparse

from reasonembed.hub import card
from reasonembed.interrupts import sigterm_as_interrupt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "output_dir",
        metavar="DIR",
        help="output folder of `reasonembed generate`, complete (every export, stats.json, "
        "config.yaml, pipeline.yaml): an incomplete folder is refused",
    )
    parser.add_argument("--repo-id", required=True, help="dataset repository, ORG/NAME")
    parser.add_argument(
        "--version", required=True, help="release version X.Y.Z; tagged vX.Y.Z, never overwritten"
    )
    parser.add_argument(
        "--private",
        action="store_true",
        help="create the repository private (if it does not exist)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write the exact repository tree to a local folder instead",
    )
    parser.add_argument(
        "--dry-run-dir",
        default=None,
        help="folder for --dry-run (default: DIR-release-vX.Y.Z next to DIR); must be empty or new",
    )
    parser.add_argument(
        "--license",
        default=card.DEFAULT_LICENSE,
        help="license id for the card (default: %(default)s)",
    )
    parser.add_argument("--pretty-name", default=None, help="dataset title on the card")


def run(args: argparse.Namespace) -> int:
    from reasonembed.hub.release import publish

    with sigterm_as_interrupt():  # SIGTERM stops the upload like Ctrl-C: one line, exit 143
        release = publish(
            args.output_dir,
            args.repo_id,
            args.version,
            private=args.private,
            dry_run=args.dry_run,
            dry_run_dir=args.dry_run_dir,
            license=args.license,
            pretty_name=args.pretty_name,
        )
    where = f"written to {release.dry_run_dir}" if args.dry_run else f"commit {release.commit_oid}"
    print(f"{release.repo_id} {release.tag}: {len(release.files)} files, {where}")
    if release.previous_version:
        print(f"changes since v{release.previous_version}:")
        for line in release.changelog or ["none"]:
            print(f"  - {line}")
    if not args.dry_run:
        print(f'load: datasets.load_dataset("{release.repo_id}", "raw", revision="{release.tag}")')
    return 0
