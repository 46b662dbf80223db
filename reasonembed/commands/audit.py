"""`reasonembed audit sample DIR [--n 200] [--seed 0]` and `reasonembed audit score DIR
REVIEW.json [REVIEW2.json ...]`: a human check of the LLM judge's relevance labels.

`sample` draws a reproducible sample of judged (query, candidate) pairs, stratified by domain and
by the judge's score, into DIR/audit/sample.json and the report page's audit queue
(`reasonembed.quality.audit_sample`); reviewers mark the pairs in report/index.html and export
one review file each; `score` measures the judge against those reviews and writes
DIR/audit/score.json and score.md (`reasonembed.quality.audit_score`), which the next `publish`
puts in the dataset card.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_N = 200
EXAMPLES = """examples:
  reasonembed audit sample out/demo                    # 200 pairs, seed 0, into out/demo/audit/
  reasonembed audit sample out/demo --n 500 --seed 7   # another sample: reviews name its seed
  # open out/demo/report/index.html, mark the audit queue, download the review file, then:
  reasonembed audit score out/demo review-alice-1a2b3c4d.json
  reasonembed audit score out/demo review-alice-1a2b3c4d.json review-bob-1a2b3c4d.json

A review file of another dataset (config hash) or another sample (seed, digest) is refused.
The next `reasonembed publish out/demo ...` puts the agreement in the dataset card."""

SAMPLE_HELP = "draw the pairs to review into DIR/audit/sample.json and the report page"
SCORE_HELP = "measure the judge against review files; write DIR/audit/score.json and score.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    # -v after the action too (the top-level parser takes it before or after `audit`)
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="debug logging, and the full traceback of an error",
    )

    sample = actions.add_parser(
        "sample",
        help=SAMPLE_HELP,
        description=SAMPLE_HELP
        + ". Judged candidates of kept samples only, stratified by domain and by the judge's "
        "score 1-5 (positives, negatives and borderline 2-3 scores all appear), the same for "
        "the same dataset, --n and --seed.",
        parents=[verbose],
    )
    sample.add_argument(
        "dir", metavar="DIR", type=Path, help="a `reasonembed generate` output folder"
    )
    sample.add_argument(
        "--n",
        type=int,
        default=DEFAULT_N,
        help=f"pairs to sample (default {DEFAULT_N})",
    )
    sample.add_argument(
        "--seed", type=int, default=0, help="sampling seed; reviews name it (default 0)"
    )

    score = actions.add_parser(
        "score",
        help=SCORE_HELP,
        description=SCORE_HELP
        + ". Human review is the reference: precision and recall of the judge's positives "
        "(score >= annotation.positive_threshold) and negatives with 95% Wilson intervals, "
        "Cohen's kappa, overall, per domain and per reviewer, and between reviewers. "
        "'unsure' and unmarked pairs are left out and counted.",
        parents=[verbose],
    )
    score.add_argument(
        "dir", metavar="DIR", type=Path, help="the output folder `audit sample` was run on"
    )
    score.add_argument(
        "reviews",
        metavar="REVIEW.json",
        type=Path,
        nargs="+",
        help="review files exported from the report page, one per reviewer",
    )


def run(args: argparse.Namespace) -> int:
    if args.audit_action == "sample":
        from reasonembed.quality.audit_sample import write_audit_sample

        write_audit_sample(args.dir, args.n, args.seed)
        logger.info(
            "next: mark the pairs in the page's Audit view, export the review, then "
            "`reasonembed audit score %s REVIEW.json`",
            args.dir,
        )
        return 0
    from reasonembed.quality.audit_score import read_audit_score, summary_line, write_audit_score

    folder = write_audit_score(args.dir, args.reviews)
    logger.info("%s; written to %s/", summary_line(read_audit_score(args.dir)), folder)
    return 0
