"""`reasonembed init`: a commented config for one domain of your own
(`reasonembed.config.template`).

    reasonembed init --corpus PATH --base-url URL --model NAME [--domain NAME]
        [--api-key-env VAR] [--id-field COLUMN] [--text-field COLUMN] [-o config.yaml] [--force]

The corpus must exist; its columns are read to fill `id_field` / `text_field`. An existing file
is replaced only with `--force`. The config it writes passes `reasonembed check` as written when
the server answers.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from reasonembed.config.template import corpus_fields, default_domain, render_config
from reasonembed.data.output import write_text
from reasonembed.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus",
        required=True,
        help="your corpus: a .jsonl or .parquet file, a folder of them, or a `datasets` folder",
    )
    parser.add_argument(
        "--base-url",
        required=True,
        help="the OpenAI-compatible server's API root, e.g. http://127.0.0.1:8000/v1",
    )
    parser.add_argument("--model", required=True, help="the model id the server answers to")
    parser.add_argument(
        "--domain", help="the domain's name (default: the corpus file or folder name)"
    )
    parser.add_argument(
        "--api-key-env",
        help="NAME of the environment variable holding the server's key (never the key)",
    )
    parser.add_argument("--id-field", help="the corpus column with document ids (default: found)")
    parser.add_argument("--text-field", help="the corpus column with the text (default: found)")
    parser.add_argument(
        "-o", "--output", default="config.yaml", help="the config to write (default config.yaml)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing --output file")


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.is_dir():
        raise UserError(f"{output}: is a folder; give a file name with -o, e.g. -o config.yaml")
    if output.exists() and not args.force:
        raise UserError(f"{output}: exists; pass --force to replace it, or -o another file")
    corpus = Path(args.corpus).expanduser()
    if not corpus.exists():
        raise UserError(
            f"{args.corpus}: no such file or folder; give your corpus with --corpus "
            "(a .jsonl or .parquet file, or a folder of them)"
        )
    fmt, id_field, text_field = corpus_fields(corpus, args.id_field, args.text_field)
    domain = args.domain or default_domain(corpus)
    text = render_config(
        config=str(output),
        corpus=args.corpus,
        fmt=fmt,
        id_field=id_field,
        text_field=text_field,
        domain=domain,
        base_url=args.base_url,
        model=args.model,
        api_key_env=args.api_key_env,
    )
    write_text(text, output)
    print(
        f"wrote {output}: domain {domain!r}, corpus {args.corpus} ({fmt}, id_field "
        f"{id_field!r}, text_field {text_field!r})"
    )
    if (id_field, text_field) != ("doc_id", "text") and not (args.id_field and args.text_field):
        print(f"columns chosen from the corpus: check id_field and text_field in {output}")
    if args.api_key_env and not os.environ.get(args.api_key_env):
        print(f"export {args.api_key_env}=<your key> before the next command")
    print(f"edit the domain's texts in {output}, then: reasonembed check {output}")
    return 0
