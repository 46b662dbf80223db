import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reasonembed.data.corpus import CorpusSource, load_corpus
from reasonembed.errors import UserError
from tests.support.factory_inputs import DOCS, write_corpus


def test_jsonl_corpus_loads_in_order(tmp_path):
    corpus = load_corpus(CorpusSource(path=str(write_corpus(tmp_path))), "leetcode")
    assert corpus.doc_ids == [doc_id for doc_id, _ in DOCS]
    assert corpus.texts[2] == DOCS[2][1]
    assert corpus.domain == "leetcode"


def _write_lines(tmp_path, rows):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"doc_id": "a", "text": "x"}, {"doc_id": "b"}], "row 2: missing field 'text'"),
        ([{"doc_id": "a", "text": "  "}], "row 1: field 'text' is empty"),
        (
            [{"doc_id": "a", "text": "x"}, {"doc_id": "a", "text": "y"}],
            "row 2: duplicate doc_id 'a' (first seen at row 1)",
        ),
        ([{"doc_id": "a", "text": 3}], "row 1: field 'text' must be text, got int"),
        ([{"text": "x"}], "row 1: missing field 'doc_id'"),
    ],
)
def test_bad_rows_name_file_row_and_field(tmp_path, rows, message):
    path = _write_lines(tmp_path, rows)
    with pytest.raises(UserError) as error:
        load_corpus(CorpusSource(path=str(path)), "biology")
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_parquet_with_custom_fields(tmp_path):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"pid": ["p1", "p2"], "body": ["alpha text", "beta text"]}), path)
    corpus = load_corpus(CorpusSource(path=str(path), id_field="pid", text_field="body"), "biology")
    assert corpus.doc_ids == ["p1", "p2"]


def test_bright_layout(tmp_path):
    (tmp_path / "documents").mkdir()
    pq.write_table(
        pa.table({"id": ["a/1.txt", "a/Memory Management_2_0.txt"], "content": ["one", "two"]}),
        tmp_path / "documents" / "biology-00000-of-00001.parquet",
    )
    corpus = load_corpus(CorpusSource(path=str(tmp_path)), "biology")
    assert corpus.doc_ids == ["a/1.txt", "a/Memory Management_2_0.txt"]


def test_datasets_folder(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"doc_id": ["x", "y"], "text": ["first", "second"]}).save_to_disk(
        tmp_path / "ds"
    )
    corpus = load_corpus(CorpusSource(path=str(tmp_path / "ds")), "biology")
    assert corpus.texts == ["first", "second"]


def test_python_docs_corpus_is_built_offline():
    corpus = load_corpus(CorpusSource(path="heapq,bisect", format="python-docs"), "demo")
    assert "heapq.heappush" in corpus.doc_ids
    assert all(text.strip() for text in corpus.texts)


def test_non_utf8_byte_names_file_line_and_byte_offset(tmp_path):
    path = tmp_path / "docs.jsonl"
    first = (json.dumps({"doc_id": "a", "text": "fine"}) + "\n").encode()
    path.write_bytes(first + b'{"doc_id": "b", "text": "na\xefve"}\n')
    with pytest.raises(UserError) as error:
        load_corpus(CorpusSource(path=str(path)), "biology")
    assert str(error.value) == (
        f"{path}: line 2, byte offset {len(first) + 27}: not valid UTF-8 (byte 0xef); "
        "re-encode the file as UTF-8"
    )


def test_byte_order_mark_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"doc_id": "a", "text": "caf\u00e9"}).encode() + b"\r\n"
    )
    assert load_corpus(CorpusSource(path=str(path)), "biology").texts == ["caf\u00e9"]


def test_parquet_string_that_is_not_utf8_names_row_and_field(tmp_path):
    path = tmp_path / "docs.parquet"
    texts = pa.array([b"ok", b"ok too", b"\xc3("], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"doc_id": ["a", "b", "c"], "text": texts}), path)
    with pytest.raises(UserError, match=r"docs.parquet: row 3: field 'text' is not valid UTF-8"):
        load_corpus(CorpusSource(path=str(path)), "biology")


def test_documents_are_streamed_in_batches(tmp_path, monkeypatch):
    from reasonembed.data import corpus as corpus_module

    monkeypatch.setattr(corpus_module, "BATCH_ROWS", 2)
    path = tmp_path / "docs.parquet"
    ids = [f"d{i}" for i in range(5)]
    pq.write_table(pa.table({"doc_id": ids, "text": [f"text {i}" for i in range(5)]}), path)
    stream = corpus_module.iter_documents(CorpusSource(path=str(path)), "biology")
    assert next(stream) == ("d0", "text 0", None)  # a generator: nothing else read yet
    assert [doc_id for doc_id, _, _ in stream] == ids[1:]
    assert corpus_module.scan_corpus(CorpusSource(path=str(path)), "biology") == 5


def test_missing_corpus_path_is_named(tmp_path):
    with pytest.raises(UserError, match="nope.jsonl: corpus path does not exist"):
        load_corpus(CorpusSource(path=str(tmp_path / "nope.jsonl"), format="jsonl"), "biology")
