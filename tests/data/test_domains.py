import pytest

from reasonembed.bright.data import BRIGHT_TASKS
from reasonembed.data.domains import BRIGHT_DOMAINS, Domain, DomainRegistry, load_domains_file
from reasonembed.errors import UserError


def test_the_twelve_bright_domains_with_paper_batching():
    assert tuple(BRIGHT_DOMAINS) == tuple(BRIGHT_TASKS)
    assert (BRIGHT_DOMAINS["leetcode"].train_group_size, BRIGHT_DOMAINS["leetcode"].batch_size) == (
        2,
        64,
    )
    assert (BRIGHT_DOMAINS["pony"].train_group_size, BRIGHT_DOMAINS["pony"].batch_size) == (64, 2)
    for name in ("biology", "aops", "theoremqa_theorems"):
        assert (BRIGHT_DOMAINS[name].train_group_size, BRIGHT_DOMAINS[name].batch_size) == (16, 8)
    assert BRIGHT_DOMAINS["earth_science"].retrieval_instruction.startswith(
        "Given an Earth Science post"
    )
    assert {BRIGHT_DOMAINS[n].filter_topic for n in ("stackoverflow", "leetcode", "pony")} == {
        "coding"
    }


def test_custom_domains_from_yaml(tmp_path):
    path = tmp_path / "domains.yaml"
    path.write_text(
        "- name: chemistry\n  generation_task: Write a chemistry question.\n  output_name: post\n"
        "  query_type: chemistry post\n  doc_type: passage\n  relevance_definition: helps.\n"
        "  retrieval_instruction: Given a Chemistry post, retrieve passages.\n  filter_topic: chemistry\n"
    )
    registry = DomainRegistry(load_domains_file(path))
    assert registry.get("chemistry").train_group_size == 16
    with pytest.raises(UserError, match="unknown domain 'physics'"):
        registry.get("physics")


def test_custom_domain_cannot_shadow_a_builtin():
    clash = BRIGHT_DOMAINS["biology"].model_copy()
    with pytest.raises(UserError, match="clashes"):
        DomainRegistry([Domain.model_validate(clash.model_dump())])
