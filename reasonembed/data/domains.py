"""Retrieval domains: what to generate from a seed, how to judge relevance, how to train.

The 12 BRIGHT domains (one per task of `reasonembed.bright.data.BRIGHT_TASKS`, in that order)
follow the ReasonEmbed paper; the wording of their generation and relevance instructions is this
project's own. `retrieval_instruction` is the query-side instruction used for mining, training
and evaluation (`Instruct: {retrieval_instruction}\\nQuery: {query}`); for a BRIGHT domain it is
the `prompt` field of the published ReasonEmbed data, the BRIGHT wording FlagEmbedding evaluates
with, taken from `reasonembed.bright.instructions`.

User-defined domains come from YAML (a list of mappings with the fields of `Domain`), either in a
FactoryConfig's `custom_domains` or in a file passed to `load_domains_file`.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from reasonembed.bright.data import BRIGHT_TASKS
from reasonembed.bright.instructions import flagembedding_instruction
from reasonembed.errors import UserError


class Domain(BaseModel):
    """One retrieval domain.

    generation_task: what the generator is asked to write from a seed passage (one sentence,
        imperative, no reference to the passage itself).
    query_type / doc_type: names used in prompts ("biology post", "passage").
    relevance_definition: when a document counts as relevant to a query in this domain.
    retrieval_instruction: the query-side instruction for dense retrieval.
    filter_topic: the topic the optional LLM domain filter asks about ("biology", "coding").
    train_group_size / batch_size: Redapter batching (1 positive + group-1 negatives per query;
        queries per device).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    generation_task: str
    output_name: str
    query_type: str
    doc_type: str
    relevance_definition: str
    retrieval_instruction: str
    filter_topic: str
    train_group_size: int = Field(default=16, ge=1)
    batch_size: int = Field(default=8, ge=1)


def _bright_domain(name: str, **fields) -> Domain:
    """The domain of BRIGHT task `name`: its retrieval instruction is BRIGHT's own wording."""
    return Domain(name=name, retrieval_instruction=flagembedding_instruction(name), **fields)


def _stackexchange(name: str, topic: str, community: str) -> Domain:
    return _bright_domain(
        name,
        generation_task=(
            f"Write a question that a user of the {community} StackExchange community might post. "
            "Domain experts answering it should need to draw on the key concepts or theories "
            "explained in the passage below, although the question must not mention or quote it."
        ),
        output_name="StackExchange post",
        query_type=f"{topic} post",
        doc_type="passage",
        relevance_definition=(
            f"A document is relevant to a {topic} post when the key concepts or theories it "
            "discusses would help a domain expert write an answer to the post."
        ),
        filter_topic=topic,
    )


def _builtin_domains() -> dict[str, Domain]:
    domains = [
        _stackexchange("biology", "biology", "Biology"),
        _stackexchange("earth_science", "earth science", "Earth Science"),
        _stackexchange("economics", "economics", "Economics"),
        _stackexchange("psychology", "psychology", "Psychology"),
        _stackexchange("robotics", "robotics", "Robotics"),
        _stackexchange("stackoverflow", "Stack Overflow", "Stack Overflow").model_copy(
            update={"filter_topic": "coding"}
        ),
        _stackexchange("sustainable_living", "sustainable living", "Sustainable Living"),
        _bright_domain(
            "leetcode",
            generation_task=(
                "The passage below is a solved programming problem. Invent a NEW competitive "
                "programming problem, different in story and surface details, that can be solved "
                "with the same underlying algorithm or data structure."
            ),
            output_name="LeetCode problem",
            query_type="LeetCode problem",
            doc_type="coding problem solution",
            relevance_definition=(
                "A document (a solved coding problem) is relevant to a LeetCode problem when the "
                "algorithms or data structures it uses give useful insight for solving the problem."
            ),
            filter_topic="coding",
            train_group_size=2,
            batch_size=64,
        ),
        _bright_domain(
            "pony",
            generation_task=(
                "The passage below documents part of the Pony programming language. Write a "
                "coding task in Pony whose solution needs the syntax or feature the passage "
                "describes."
            ),
            output_name="Pony coding instruction",
            query_type="Pony coding instruction",
            doc_type="Pony documentation passage",
            relevance_definition=(
                "A Pony documentation passage is relevant to a Pony coding instruction when the "
                "syntax it describes is needed by a newcomer to Pony to complete the instruction."
            ),
            filter_topic="coding",
            train_group_size=64,
            batch_size=2,
        ),
        _bright_domain(
            "aops",
            generation_task=(
                "The passage below is the solution of a competition math problem. Write a NEW "
                "math problem, not a restatement, that the same problem-solving techniques help "
                "to solve."
            ),
            output_name="math problem",
            query_type="math problem",
            doc_type="math problem solution",
            relevance_definition=(
                "A math problem solution is relevant to a math problem when the theorems or "
                "techniques it uses give useful insight for solving the problem."
            ),
            filter_topic="math",
        ),
        _bright_domain(
            "theoremqa_questions",
            generation_task=(
                "The passage below is the solution of a math problem. Write a NEW math problem, "
                "not a restatement, that the theorems used in this solution help to solve."
            ),
            output_name="math problem",
            query_type="math problem",
            doc_type="math problem solution",
            relevance_definition=(
                "A math problem solution is relevant to a math problem when the theorems it uses "
                "give useful insight for solving the problem."
            ),
            filter_topic="math",
        ),
        _bright_domain(
            "theoremqa_theorems",
            generation_task=(
                "The passage below states a math theorem. Write a math problem that this theorem "
                "helps to solve, without naming the theorem."
            ),
            output_name="math problem",
            query_type="math problem",
            doc_type="math-related passage",
            relevance_definition=(
                "A math passage is relevant to a math problem when the theorem it describes "
                "helps solve the problem."
            ),
            filter_topic="math",
        ),
    ]
    by_name = {domain.name: domain for domain in domains}
    return {task: by_name[task] for task in BRIGHT_TASKS}  # one per task, in BRIGHT's order


BRIGHT_DOMAINS: dict[str, Domain] = _builtin_domains()


class DomainRegistry:
    """The built-in BRIGHT domains plus user-defined ones (a user domain may not reuse a name)."""

    def __init__(self, custom: list[Domain] | None = None) -> None:
        self._domains = dict(BRIGHT_DOMAINS)
        for domain in custom or []:
            if domain.name in self._domains:
                raise UserError(
                    f"custom domain {domain.name!r} clashes with a built-in domain; rename it"
                )
            self._domains[domain.name] = domain

    def __contains__(self, name: str) -> bool:
        return name in self._domains

    def names(self) -> list[str]:
        return list(self._domains)

    def get(self, name: str) -> Domain:
        if name not in self._domains:
            raise UserError(
                f"unknown domain {name!r}; known domains: {', '.join(self._domains)} "
                "(define new ones under `custom_domains` in the config)"
            )
        return self._domains[name]


def load_domains_file(path: str | Path) -> list[Domain]:
    """User-defined domains from a YAML file holding a list of `Domain` mappings."""
    path = Path(path)
    try:
        entries = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise UserError(f"{path}: cannot read domains file: {error}") from error
    if not isinstance(entries, list):
        raise UserError(f"{path}: expected a YAML list of domains, got {type(entries).__name__}")
    domains = []
    for index, entry in enumerate(entries):
        try:
            domains.append(Domain.model_validate(entry))
        except Exception as error:
            raise UserError(f"{path}: domain #{index + 1}: {error}") from error
    return domains
