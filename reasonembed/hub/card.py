"""The dataset card (README.md) of a release, rendered from the Jinja template in datacards/.

`render_card(facts, ...)` builds the YAML front matter with huggingface_hub's DatasetCardData
(so `DatasetCard` parses it back) and renders the body with `DatasetCard.from_template`. The
card is a pure function of its inputs (no dates), so a re-run renders the same bytes and the
golden-file test can compare them.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from reasonembed.bright.data import HUB_REPO
from reasonembed.data.domains import BRIGHT_DOMAINS
from reasonembed.hub.layout import ReleaseLayout
from reasonembed.quality.audit_score import (
    format_interval,
    format_kappa,
    sample_size,
    summary_line,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "datacards" / "remixer_dataset.md.j2"
DEFAULT_LICENSE = "cc-by-4.0"  # BRIGHT, the seed corpora, is CC-BY-4.0
CONSUMERS = {
    "raw": "inspection, re-filtering (every candidate with its score and analysis)",
    "reasonembed": "`reasonembed train` (the ReasonEmbed release format)",
    "flagembedding": "FlagEmbedding fine-tuning (`--train_data flagembedding`)",
    "sentence-transformers": "`SentenceTransformerTrainer` + MultipleNegativesRankingLoss",
}
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)


def size_category(samples: int) -> str:
    """The Hub's size_categories bucket of a row count."""
    return next((label for bound, label in SIZE_CATEGORIES if samples < bound), "n>10M")


def card_data(
    facts: dict, layout: ReleaseLayout, pretty_name: str, license: str
) -> DatasetCardData:
    """The YAML front matter: Hub metadata plus one `configs` entry (data_files) per config."""
    domains = list(facts["domains"])
    from_bright = bool(domains) and all(domain in BRIGHT_DOMAINS for domain in domains)
    configs = [
        {
            "config_name": config.name,
            "data_files": [{"split": "train", "path": config.data_files_glob}],
            **({"default": True} if config.name == "raw" else {}),
        }
        for config in layout.configs
    ]
    return DatasetCardData(
        license=license,
        language=["en"],
        pretty_name=pretty_name,
        task_categories=["feature-extraction", "sentence-similarity", "text-retrieval"],
        tags=["synthetic", "reasoning", "retrieval", "sentence-transformers", "distilabel"],
        annotations_creators=["machine-generated"],
        language_creators=["machine-generated"],
        multilinguality=["monolingual"],
        source_datasets=[HUB_REPO] if from_bright else ["original"],
        size_categories=[size_category(facts["samples"])],
        configs=configs,
    )


def changelog(facts: dict, previous: dict | None) -> list[str]:
    """Human-readable differences between this release's facts and the previous release's."""
    if previous is None:
        return []
    lines = []
    if facts["samples"] != previous.get("samples"):
        lines.append(
            f"samples: {previous.get('samples')} -> {facts['samples']} ({_delta(facts['samples'], previous.get('samples'))})"
        )
    old_domains = previous.get("domains") or {}
    for domain in sorted(set(facts["domains"]) | set(old_domains)):
        new, old = facts["domains"].get(domain), old_domains.get(domain)
        if old is None:
            lines.append(f"domain {domain} added ({new} samples)")
        elif new is None:
            lines.append(f"domain {domain} removed (had {old} samples)")
        elif new != old:
            lines.append(f"domain {domain}: {old} -> {new} samples ({_delta(new, old)})")
    old_configs = previous.get("configs") or {}
    for name in sorted(set(facts["configs"]) | set(old_configs)):
        if name not in old_configs:
            lines.append(f"config `{name}` added")
        elif name not in facts["configs"]:
            lines.append(f"config `{name}` removed")
    old_models = {(m["role"], m["model"], m["revision"]) for m in previous.get("models") or []}
    new_models = {(m["role"], m["model"], m["revision"]) for m in facts["models"]}
    for role, model, revision in sorted(new_models - old_models):
        lines.append(f"{role} model now `{model}` ({revision})")
    for name in sorted(set(facts["prompt_hashes"]) | set(previous.get("prompt_hashes") or {})):
        new, old = facts["prompt_hashes"].get(name), (previous.get("prompt_hashes") or {}).get(name)
        if new != old:
            lines.append(
                f"prompt `{name}`: {', '.join(old or ['none'])} -> {', '.join(new or ['none'])}"
            )
    if facts["config_hash"] != previous.get("config_hash"):
        lines.append(
            f"factory config hash: {', '.join(previous.get('config_hash') or ['none'])} -> {', '.join(facts['config_hash'] or ['none'])}"
        )
    new_audit, old_audit = facts.get("audit"), previous.get("audit")
    if _audit_summary(new_audit) != _audit_summary(old_audit):
        lines.append(f"human audit: {_audit_summary(old_audit)} -> {_audit_summary(new_audit)}")
    if facts["factory_version"] != previous.get("factory_version"):
        lines.append(
            f"factory version: {', '.join(previous.get('factory_version') or ['none'])} -> {', '.join(facts['factory_version'] or ['none'])}"
        )
    return lines


def _audit_summary(score: dict | None) -> str:
    return summary_line(score).removeprefix("the judge ") if score else "none"


def audit_section(score: dict | None) -> dict | None:
    """What the card's "Human audit" section shows of audit/score.json (figures formatted by
    reasonembed.quality.audit_score); None without a score: the card then says nothing about
    human review."""
    if score is None:
        return None
    overall = score["overall"]
    return {
        "agreed": overall["agreed"],
        "pairs": overall["pairs"],
        "unsure": overall["unsure"],
        "unmarked": overall["unmarked"],
        "kappa": format_kappa(overall["kappa"]),
        "reviewers": f"{len(score['reviewers'])} reviewer"
        + ("s" if len(score["reviewers"]) != 1 else ""),
        "seed": score["seed"],
        "sample_pairs": sample_size(score),
        "labels": [
            {
                "label": side,
                "precision": format_interval(overall[side]["precision"]),
                "recall": format_interval(overall[side]["recall"]),
            }
            for side in ("positive", "negative")
        ],
        "domains": [
            {
                "domain": domain,
                "pairs": figures["pairs"],
                "agreed": figures["agreed"],
                "kappa": format_kappa(figures["kappa"]),
            }
            for domain, figures in score["per_domain"].items()
        ],
        "between": [
            {
                "reviewers": " / ".join(entry["reviewers"]),
                "pairs": entry["pairs"],
                "agreed": entry["agreed"],
                "kappa": format_kappa(entry["kappa"]),
            }
            for entry in score["inter_reviewer"]
        ],
    }


def _delta(new, old) -> str:
    if not isinstance(new, int) or not isinstance(old, int):
        return "n/a"
    return f"{new - old:+d}"


def render_card(
    facts: dict,
    layout: ReleaseLayout,
    *,
    repo_id: str,
    repo_url: str,
    version: str,
    previous: dict | None = None,
    pretty_name: str | None = None,
    license: str = DEFAULT_LICENSE,
    template: Path = TEMPLATE,
) -> str:
    """README.md text of a release. `previous`: the facts of the previous release (release.json)."""
    pretty_name = pretty_name or f"{repo_id.split('/')[-1]} (ReMixer synthetic retrieval data)"
    data = card_data(facts, layout, pretty_name, license)
    validation_columns = list(
        dict.fromkeys(column for row in facts["validation"] for column in row)
    )
    card = DatasetCard.from_template(
        data,
        template_path=str(template),
        version=version,
        tag=f"v{version}",
        repo_id=repo_id,
        repo_url=repo_url,
        samples=facts["samples"],
        positives=facts.get("positives") if facts.get("positives") is not None else "n/a",
        negatives=facts.get("negatives") if facts.get("negatives") is not None else "n/a",
        domains=facts["domains"],
        models=facts["models"],
        prompt_hashes=facts["prompt_hashes"],
        config_hashes=facts["config_hash"],
        factory_versions=", ".join(facts["factory_version"]) or "unknown",
        configs=facts["configs"],
        jsonl_configs=[
            name for name, config in facts["configs"].items() if config["format"] == "jsonl"
        ],
        consumers=CONSUMERS,
        triviality=facts["triviality"],
        decontamination=facts["decontamination"],
        run=facts["run"],
        plots=[file.path_in_repo for file in layout.extras if file.path_in_repo.endswith(".png")],
        browser=next(
            (f.path_in_repo for f in layout.extras if f.path_in_repo.endswith("index.html")), None
        ),
        validation=facts["validation"],
        validation_columns=validation_columns,
        validation_on=facts.get("validation_on", "BRIGHT"),
        audit=audit_section(facts.get("audit")),
        previous_version=previous.get("version") if previous else None,
        changelog=changelog(facts, previous),
    )
    return str(card)
