"""The commented starting config for one domain of your own (`reasonembed init`).

`corpus_fields(path)` peeks at a local corpus: its format and the id and text columns
(`doc_id`/`text`, else a usual name such as `id`/`content`), UserError when it cannot tell.
`render_config(...)` returns the YAML text: every key explained where it stands, with values for
a small first run (20 seeds, 10 candidates each, small batches, token budgets). The text is
validated with the project's own loader before it is returned, so it loads as written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

import yaml

from reasonembed.config import parse_config
from reasonembed.data.corpus import corpus_columns
from reasonembed.data.domains import BRIGHT_DOMAINS
from reasonembed.errors import UserError

ID_COLUMNS = ("doc_id", "id", "_id", "docid", "document_id", "doc_key", "uid", "key")
TEXT_COLUMNS = ("text", "content", "contents", "body", "passage", "document", "abstract")

TEMPLATE = Template("""\
# reasonembed config for one domain of your own, written by `reasonembed init`.
# Every key is explained where it stands; the values are for a small first run (20 seeds, a few
# hundred LLM requests). Edit the custom domain's texts to fit your corpus: they go into the
# prompts. The first hour (README "Your own domain"):
#   reasonembed check $config
#   reasonembed estimate $config
#   reasonembed generate $config --output out/$domain
#   reasonembed report out/$domain
#   reasonembed train --data out/$domain --model minilm --output models/$domain --batch-scale 1 \\
#       --max-steps 30 --ri-start-step 10
#   reasonembed publish out/$domain --repo-id ORG/NAME --version 0.1.0 --dry-run
# Relative paths (the corpus, cache_dir) resolve against the folder reasonembed runs from.

# name: names the run (letters, digits, . _ -); in the config hash and the dataset card.
name: $domain_value
# seed: fixes every random choice (seed sampling, target lengths, education levels); integer.
seed: 42

# custom_domains: domains of your own (the 12 BRIGHT domains are built in), one entry each.
custom_domains:
  # name: letters, digits, _ and -; not a BRIGHT task name; listed again under `domains`.
  - name: $domain_value
    # generation_task: the generator's instruction; the seed passage follows it. Ask for a NEW
    # question whose answer needs the passage's concepts; the prompt already forbids any
    # reference to the passage ("this text", "the passage").
    generation_task: >-
      Write a question that someone working with $topic might ask. Answering it well should
      need the concepts, mechanisms or facts that the passage below explains, although the
      question must not mention or quote the passage.
    # output_name: what the generator writes, as the prompt calls it ("StackExchange post").
    output_name: $topic question
    # query_type / doc_type: how queries and corpus documents are called in the prompts.
    query_type: $topic question
    doc_type: $topic passage
    # relevance_definition: when a document is relevant to a query; the annotator scores every
    # candidate 1-5 against it (>= annotation.positive_threshold: a positive, else a negative).
    relevance_definition: >-
      A $topic passage is relevant to a $topic question when the concepts, mechanisms or facts
      it explains would help an expert write a correct answer to the question.
    # retrieval_instruction: the embedding model's query-side instruction, for mining, training
    # and evaluation ("Instruct: {retrieval_instruction}\\nQuery: {query}").
    retrieval_instruction: Given a $topic question, retrieve passages that help answer it.
    # filter_topic: the topic the optional LLM domain filter asks about (domain_filter below).
    filter_topic: $topic_value
    # train_group_size: passages per query in training, 1 positive + the rest negatives
    # (integer >= 1; the paper: 16 for StackExchange and math, 2 for leetcode).
    train_group_size: 8
    # batch_size: this domain's queries per device and step in training (integer >= 1); `train`
    # multiplies it by --batch-scale (8 by default: use --batch-scale 1 on a small dataset).
    batch_size: 4

# domains: the domains to generate for, each with its corpus (searched whole during mining).
domains:
  - domain: $domain_value
    corpus:
      # path: a .jsonl file (one JSON object a line), a .parquet file, a folder of either, a
      # `datasets` save_to_disk folder, or a Hub dataset `org/name@revision` (format: hub).
      path: $corpus
      # format: auto (from the suffix or the folder), jsonl, parquet, datasets, hub, bright or
      # python-docs.
      format: $format
      # id_field: the column with a unique document id; text_field: the column with the text
      # (defaults doc_id and text); title_field: an optional title column. Also: split (of a
      # `datasets` or hub corpus, default train), bright_task (of a BRIGHT-layout folder).
      id_field: $id_field
      text_field: $text_field
    # max_seeds: documents drawn as seeds, one query each (integer >= 1; the paper: 10,000).
    max_seeds: 20

# seeds: which documents may be seeds. min_chars / max_chars: the length window in characters
# (the paper: 200 to 5,000); exclude_ids_files: text files of doc_ids never to use (one a line);
# max_seeds_per_domain: the cap of a domain without max_seeds (default 10,000).
seeds:
  min_chars: 200
  max_chars: 5000

# domain_filter: ask the generator "is this passage about <filter_topic>?" before sampling the
# seeds (enabled: true | false); oversample: documents asked per seed wanted (>= 1).
domain_filter:
  enabled: false
  oversample: 2.0

# generator: the LLM that writes the queries (and answers the domain filter).
generator:
  # backend: openai (any OpenAI-compatible server: vllm serve, SGLang, llama.cpp, transformers
  # serve, OpenAI), local (the bundled 135M demo model) or vllm (in-process; GPU extra).
  backend: openai
  # model: the model id the server answers to (vLLM: the name given to `vllm serve`).
  model: $model
  # base_url: the server's OpenAI API root (ends in /v1); a list spreads requests over servers.
  base_url: $base_url
  # api_key_env: the NAME of the environment variable holding the key, never the key itself;
  # leave it out for a server without keys.
  $api_key_line
  # temperature (>= 0), top_p (0 to 1), top_k (>= 1, or null: not sent; OpenAI and transformers
  # serve reject it): sampling (the paper's generator: 1.0, 0.6, not sent).
  temperature: 1.0
  top_p: 0.6
  top_k: null
  # max_new_tokens: the answer's cap in tokens (queries run up to ~500 words); integer >= 1.
  max_new_tokens: 1024
  # concurrency: requests in flight; timeout_s: seconds per attempt; max_retries: retries.
  concurrency: 8
  timeout_s: 120
  max_retries: 6
  # batch_size: rows per pipeline batch of this role's steps (integer >= 1).
  batch_size: 8
  # price: USD per million tokens; 0 means unknown (`estimate` then says so).
  price: {prompt_usd_per_million: 0.0, completion_usd_per_million: 0.0}
  # budget: stop asking after max_tokens tokens or max_cost_usd dollars in a run (the output
  # keeps what is complete; a re-run continues from the request cache).
  budget: {max_tokens: 500000}
  # chat_template_kwargs: arguments of the model's chat template, e.g. for Qwen3:
  # chat_template_kwargs: {enable_thinking: false}

# annotator: the LLM that judges every (query, candidate) pair; the same keys as the generator.
annotator:
  backend: openai
  model: $model
  base_url: $base_url
  $api_key_line
  # the paper's annotator: temperature 0.7, top_p 0.95, top_k 40 (null here: not sent).
  temperature: 0.7
  top_p: 0.95
  top_k: null
  # max_new_tokens: a judgement ends within 512 words (~700 tokens) with <score>N</score>.
  max_new_tokens: 1024
  concurrency: 16
  timeout_s: 120
  max_retries: 6
  batch_size: 16
  price: {prompt_usd_per_million: 0.0, completion_usd_per_million: 0.0}
  budget: {max_tokens: 2000000}

# query_generation: max_reasks: times a rejected query (empty, or referring to the passage) is
# asked again (>= 0); reasoning_query: also write the reasoning-augmented query that the
# ri-infonce loss of `train` needs (true | false); length_weights / education_weights: the
# sampled target lengths and education levels (default: the paper's mix).
query_generation:
  max_reasks: 2
  reasoning_query: true

# mining: dense retrieval over the whole corpus; the source document is never a candidate.
mining:
  # retriever: minilm (bundled, offline, CPU), a local model folder or a Hub id (the paper:
  # Alibaba-NLP/gte-Qwen2-7B-instruct, with trust_remote_code: true).
  retriever: minilm
  # search_top_k: documents retrieved per query (the paper: 1,000); n_candidates: the top ones
  # kept and annotated (<= search_top_k; the paper: 100). Judgements = seeds x n_candidates.
  search_top_k: 50
  n_candidates: 10
  # more keys (pooling, max_length, dtype, index, encode_workers, ...): reasonembed/config/blocks.py.

# annotation: positive_threshold: scores at or above it are positives, below negatives (2 to 5);
# score_mode: tag (parse <score>N</score>: real LLMs), forced (local backend only) or auto;
# max_document_chars: cut longer documents in the prompt (>= 100, or null: whole);
# max_reasks: times an answer without a score is asked again (>= 0).
annotation:
  positive_threshold: 3
  score_mode: tag
  max_document_chars: 4000
  max_reasks: 1

# bright: a BRIGHT folder (or hub): its test documents are never seeds and queries close to its
# test queries are dropped; set it when the data will be evaluated on BRIGHT.
# bright: ../shared/bright
# quality: triviality filters (defaults in reasonembed/quality/filters.py, README "Triviality");
# engine: where the pipeline runs (local, or ray: README "Scale-out").

# cache_dir: the request cache, embeddings and distilabel's step cache: re-runs never pay twice.
cache_dir: .cache/reasonembed
""")


def corpus_fields(
    path: Path, id_field: str | None = None, text_field: str | None = None
) -> tuple[str, str, str]:
    """(format, id column, text column) of a local corpus; given fields must exist in it."""
    fmt, columns = corpus_columns(path)
    found = ", ".join(columns) or "none"
    chosen = []
    for given, usual, option in ((id_field, ID_COLUMNS, "id"), (text_field, TEXT_COLUMNS, "text")):
        if given is not None and given not in columns:
            raise UserError(f"{path}: no column {given!r} (its columns: {found})")
        name = given or next((name for name in usual if name in columns), None)
        if name is None:
            raise UserError(
                f"{path}: no {usual[0]!r} column and no usual {option} column (its columns: "
                f"{found}); pass --{option}-field COLUMN"
            )
        chosen.append(name)
    return fmt, chosen[0], chosen[1]


def default_domain(corpus: Path) -> str:
    """A domain name from the corpus file or folder name ("net-protocols.jsonl" -> that stem)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", corpus.stem).strip("_-") or "my_domain"


def render_config(
    *,
    config: str,
    corpus: str,
    fmt: str,
    id_field: str,
    text_field: str,
    domain: str,
    base_url: str,
    model: str,
    api_key_env: str | None,
) -> str:
    """The commented YAML config; UserError (one line) when the values do not validate."""
    if domain in BRIGHT_DOMAINS:
        raise UserError(f"domain {domain!r} is a built-in BRIGHT domain; pass --domain NAME")
    topic = re.sub(r"[_-]+", " ", domain).strip()
    key = "OPENAI_API_KEY" if api_key_env is None else api_key_env
    text = TEMPLATE.substitute(
        config=config,
        domain=domain,
        domain_value=json.dumps(domain),
        topic=topic,
        topic_value=json.dumps(topic),
        corpus=json.dumps(corpus),
        format=fmt,
        id_field=json.dumps(id_field),
        text_field=json.dumps(text_field),
        model=json.dumps(model),
        base_url=json.dumps(base_url),
        api_key_line=f"{'# ' if api_key_env is None else ''}api_key_env: {key}",
    )
    parse_config(yaml.safe_load(text), where="init: the values given do not validate")
    return text
