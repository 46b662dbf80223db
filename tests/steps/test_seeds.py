import pyarrow as pa
import pyarrow.parquet as pq

from reasonembed.config import DomainRun, SeedConfig
from reasonembed.data.corpus import CorpusSource, load_corpus
from reasonembed.steps.seeds import select_seeds
from tests.support.factory_inputs import write_corpus


def _select(
    tmp_path,
    seeds: SeedConfig,
    seed: int = 42,
    max_seeds: int | None = None,
    domain: str = "leetcode",
    bright: str | None = None,
):
    source = CorpusSource(path=str(write_corpus(tmp_path)))
    run = DomainRun(domain=domain, corpus=source, max_seeds=max_seeds)
    return select_seeds(load_corpus(source, domain), run, seeds, seed, bright)


def test_length_window_and_text_dedup(tmp_path):
    rows, counts = _select(tmp_path, SeedConfig())
    ids = {row["source_doc_id"] for row in rows}
    assert "short" not in ids
    assert not {"heap", "heap-copy"} <= ids  # the same normalised text is one seed
    assert counts["too_short"] == 1 and counts["duplicate_text"] == 1
    assert counts["selected"] == len(rows) == 5
    assert all(set(row) == {"source_doc_id", "source_text", "domain"} for row in rows)


def test_same_seed_same_seeds(tmp_path):
    first, _ = _select(tmp_path, SeedConfig(), seed=3, max_seeds=3)
    again, _ = _select(tmp_path, SeedConfig(), seed=3, max_seeds=3)
    assert first == again
    assert len(first) == 3


def test_bright_test_documents_are_never_seeds(tmp_path):
    bright = tmp_path / "bright"
    (bright / "examples").mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "id": ["0", "1"],
                "query": ["q0", "q1"],
                "reasoning": ["", ""],
                "gold_answer": ["", ""],
                "gold_ids": [["bisect"], ["sorting", "sorting"]],
                "gold_ids_long": [["N/A"], ["N/A"]],
                "excluded_ids": [["graph"], ["N/A"]],
            }
        ),
        bright / "examples" / "leetcode-00000-of-00001.parquet",
    )
    rows, counts = _select(tmp_path, SeedConfig(), bright=str(bright))
    ids = {row["source_doc_id"] for row in rows}
    assert ids.isdisjoint({"bisect", "sorting", "graph"})
    assert counts["benchmark_test_document"] == 3


def test_excluded_ids_file(tmp_path):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("hashing\n\n")
    rows, counts = _select(tmp_path, SeedConfig(exclude_ids_files=[str(ids_file)]))
    assert "hashing" not in {row["source_doc_id"] for row in rows}
    assert counts["benchmark_test_document"] == 1
