"""The HTML sample browser (`reasonembed.quality.browse`), rendered by a real headless Chromium.

The page is loaded from disk with `--dump-dom` (the DOM after its script ran) and `--screenshot`;
filters and the opened sample are set through the URL fragment the page reads.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.records import QUARANTINE_SCHEMA
from reasonembed.errors import UserError
from reasonembed.quality.browse import BROWSER_FILE, write_browser
from reasonembed.quality.browse_items import copied_spans
from tests.quality.fixtures import (
    OTHER_TEXTS,
    RAW_QUALITY_SCHEMA,
    SOURCE,
    candidate,
    make_output_folder,
    sample,
)
from tests.support.factory_output import annotated_row, write_output

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no /usr/bin/chromium: `apt-get update && apt-get install -y chromium` (Debian) "
    "to run the browser tests",
)
HEAP_ID = "bio-heap-0001"
DROP_ID = "bio-drop-0001"
COPIED = "the Calvin cycle then uses to fix carbon dioxide"
XSS_QUERY = f"Why would {COPIED} need a heap? <img src=x onerror=alert(1)>"
XSS_ANALYSIS = "ANALYSIS-ONE says </script><script>document.title='pwned'</script> relevant"
REMOVED_STRUCT = pa.list_(pa.struct([("doc_id", pa.string()), ("reason", pa.string())]))


def build_output(root: Path) -> Path:
    """A generate output: 12 fixture samples plus one crafted kept sample (copied run, unsafe
    text, a removed candidate), a dropped sample, two earlier drops and a quarantined judgement
    of the crafted sample; stats.json from the fixture; one plot. Built by hand, not by the
    factory's writer: the page must cope with what the writer never writes (a NaN score, hand
    payloads of every rejection stage, a partial stats.json)."""
    folder = make_output_folder(root, n_samples=12)
    output = OutputFolder(folder)
    (shard,) = output.raw_files()
    crafted = sample(
        XSS_QUERY,
        [
            candidate("bio/pos-1", OTHER_TEXTS[0], 1, 5),
            candidate("bio/neg-2", OTHER_TEXTS[1], 2, 1),
            candidate("bio/pos-3", OTHER_TEXTS[2], 3, 3),
        ],
        sample_id=HEAP_ID,
        source_doc_id="bio/source-heap",
        triviality_source_dense_rank=7,
        removed_candidates=[{"doc_id": "bio/source-copy", "reason": "source_duplicate"}],
    )
    crafted["candidates"][0]["relevance_analysis"] = XSS_ANALYSIS
    crafted["candidates"][1]["retrieval_score"] = float("nan")  # JSON has no NaN
    schema = RAW_QUALITY_SCHEMA.append(pa.field("removed_candidates", REMOVED_STRUCT))
    table = pa.concat_tables(
        [pq.read_table(shard), pa.Table.from_pylist([crafted], schema=schema)],
        promote_options="default",
    )
    pq.write_table(table, shard, row_group_size=5)

    dropped = sample(
        "What limits growth when every candidate is irrelevant?",
        [
            candidate("bio/neg-a", OTHER_TEXTS[3], 1, 1),
            candidate("bio/neg-b", OTHER_TEXTS[0], 2, 2),
        ],
        sample_id=DROP_ID,
        source_doc_id="bio/source-drop",
    )
    judgement = {
        "query": XSS_QUERY,
        "doc_id": "bio/odd-4",
        "retrieval_rank": 4,
        "relevance_analysis": "LAST-ANSWER without a score tag",
        "annotation_error": "0 score tags in the answer, expected one",
    }
    rejections = [
        ("assembly", "drop", "no_positive", "biology", "bio/source-drop", None, dropped),
        (
            "annotation",
            "quarantine",
            "0 score tags in the answer, expected one (after 3 attempts)",
            "biology",
            "bio/source-heap",
            "bio/odd-4",
            judgement,
        ),  # fmt: skip
        (
            "query_filter",
            "drop",
            "source_copy (share 0.81 >= 0.5)",
            "economics",
            "eco/src-9",
            None,
            {"query": "A copied economics query", "source_text": "Prices rise."},
        ),  # fmt: skip
        (
            "domain_filter",
            "drop",
            "passage is not about economics",
            "economics",
            "eco/src-10",
            None,
            {"source_text": "A recipe for bread."},
        ),  # fmt: skip
    ]
    keys = ("stage", "kind", "reason", "domain", "source_doc_id", "doc_id")
    rows = [
        {**dict(zip(keys, r[:6], strict=True)), "payload": json.dumps(r[6])} for r in rejections
    ]
    output.quarantine_path.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA), output.quarantine_path)
    output.report_dir.mkdir()
    Image.new("RGB", (40, 30), (30, 120, 200)).save(output.report_dir / "funnel.png")
    return folder


def chromium(url: str, profile: Path, *args: str) -> str:
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", *args, url,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, f"chromium exited {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


def dump_dom(page: Path, fragment: str, profile: Path) -> str:
    dom = chromium(f"{page.as_uri()}#{fragment}", profile, "--dump-dom")
    assert 'data-ready="true"' in dom, "the page's script did not finish"
    return dom


def results_of(dom: str) -> list[str]:
    """Sample ids of the listed results, in order."""
    return re.findall(r'<div class="item (?:kept|dropped)" id="item-[^"]*" data-id="([^"]*)"', dom)


def match_count(dom: str) -> int:
    return int(re.search(r'<span id="match-count">(\d+)</span>', dom).group(1))


def page_data(page: Path) -> dict:
    text = page.read_text()
    start = text.index('<script type="application/json" id="browse-data">') + 49
    return json.loads(text[start : text.index("</script>", start)])


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    folder = build_output(tmp_path_factory.mktemp("browse") / "out")
    return write_browser(folder, folder / "report", browse_limit=200)


def test_page_is_one_offline_file_with_every_query(page):
    assert page.name == BROWSER_FILE
    text = page.read_text()
    assert "Showing 16 of 16 queries (13 of 13 kept, 3 of 3 dropped)" in text
    assert 'src="data:image/png;base64,' in text and "funnel.png" in text
    assert "<td>source_copy</td><td>12</td>" in text  # stats.json drops table
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # nothing to fetch
    assert "default-src 'none'" in text
    assert "</script><script>document.title" not in text  # data escaped inside the script
    items = {item["id"]: item for item in page_data(page)["items"]}
    assert items[DROP_ID]["status"] == "dropped"
    assert items[DROP_ID]["reason"] == "assembly:drop:no_positive"
    assert [c["doc_id"] for c in items[DROP_ID]["candidates"]] == ["bio/neg-a", "bio/neg-b"]
    assert [j["doc_id"] for j in items[HEAP_ID]["quarantined"]] == ["bio/odd-4"]
    assert [c["score"] for c in items[HEAP_ID]["candidates"]][1] is None
    reasons = sorted(item["reason"] for item in items.values() if item["status"] == "dropped")
    assert reasons == [  # spelled as the keys of stats.json `drops` (data.stats.drop_key)
        "assembly:drop:no_positive",
        "domain_filter:drop:passage is not about economics",
        "query_filter:drop:source_copy",
    ]


def test_copied_spans_mark_the_longest_shared_run():
    query_span, source_span = copied_spans(XSS_QUERY, SOURCE)
    assert XSS_QUERY[slice(*query_span)] == COPIED
    assert SOURCE[slice(*source_span)] == COPIED
    assert copied_spans("nothing shared", "completely different") is None


@needs_chromium
def test_browser_lists_all_samples_and_filters_by_domain_and_text(page, tmp_path):
    dom = dump_dom(page, "", tmp_path / "profile")
    assert match_count(dom) == 16 and len(results_of(dom)) == 16
    assert '<span id="page-count">16</span>' in dom
    dom = dump_dom(page, "domain=biology&q=calvin%20HEAP", tmp_path / "profile")
    assert results_of(dom) == [HEAP_ID] and match_count(dom) == 1
    assert '<option value="biology">biology</option>' in dom
    dom = dump_dom(page, "status=dropped&reason=assembly:drop:no_positive", tmp_path / "profile")
    assert results_of(dom) == [DROP_ID]
    dom = dump_dom(page, "status=dropped&domain=economics", tmp_path / "profile")
    assert len(results_of(dom)) == 2 and "(no query: rejected at domain_filter)" in dom
    dom = dump_dom(page, "rank_min=5&rank_max=7", tmp_path / "profile")
    assert results_of(dom) == [HEAP_ID]
    expected = sum(1 for item in page_data(page)["items"] if item["n_pos"] >= 3)
    assert match_count(dump_dom(page, "minpos=3", tmp_path / "profile")) == expected


@needs_chromium
def test_opened_sample_shows_source_mark_candidates_and_unfolded_analyses(page, tmp_path):
    dom = dump_dom(page, f"open={HEAP_ID}&analyses=open", tmp_path / "profile")
    body = dom[dom.index(f'id="item-{HEAP_ID}"') :]
    body = body[: body.index('<div class="item ', 10)] if '<div class="item ' in body[10:] else body
    assert re.findall(r"<mark[^>]*>([^<]*)</mark>", body) == [COPIED, COPIED]
    assert re.findall(r'<span class="rank">#(\d+)</span>', body) == ["1", "2", "3"]
    assert re.findall(r'<span class="rel (\w+)"', body) == ["pos", "neg", "pos"]
    analysis = re.search(
        r'<details class="analysis" open="">.*?<pre class="text">(.*?)</pre>', body
    )
    assert html.unescape(analysis.group(1)) == XSS_ANALYSIS  # shown as text, not run
    assert "&lt;img src=x onerror=alert(1)&gt;" in body and '<img src="x"' not in dom
    assert "<title>reasonembed report" in dom and "pwned" not in dom.split("</title>")[0]
    assert "bio/odd-4 (rank 4)" in body and "0 score tags in the answer" in body
    assert "LAST-ANSWER without a score tag" in body
    assert '<ul class="removed"><li><span class="doc-id">bio/source-copy</span>' in body
    assert "source_duplicate" in body
    folded = dump_dom(page, f"open={HEAP_ID}", tmp_path / "profile")
    assert '<details class="analysis">' in folded and '<details class="analysis" open' not in folded


@needs_chromium
def test_screenshot_is_not_blank(page, tmp_path):
    shot = tmp_path / "page.png"
    chromium(
        f"{page.as_uri()}#domain=biology",
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        "--hide-scrollbars",
    )
    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        colours = sorted(image.convert("RGB").getcolors(maxcolors=1 << 21), reverse=True)
    background = colours[0][0] / (1200 * 1600)
    assert len(colours) > 20 and background < 0.97, (len(colours), background)


def synthetic_output(root: Path, per_domain: int, domains=("biology", "economics", "leetcode")):
    """`per_domain` kept samples per domain, written by the factory's writer in 3 raw shards of
    100-row row groups."""
    rows = [
        annotated_row(domain, index, revision=1, scores=[4, 1])
        for domain in domains
        for index in range(per_domain)
    ]
    counts = dict.fromkeys(domains, per_domain)
    return write_output(root, domains=counts, rows=rows, raw_shards=3, batch_rows=100)


def test_many_samples_keep_exactly_the_limit_per_domain(tmp_path):
    folder = synthetic_output(tmp_path / "out", per_domain=1000)
    page = write_browser(folder, tmp_path / "report", browse_limit=50)
    text = page.read_text()
    assert "Showing 150 of 3,000 queries (150 of 3,000 kept, 0 of 0 dropped)" in text
    assert text.count('class="per-domain"') == 3 and ">50 of 1,000</span>" in text
    items = page_data(page)["items"]
    by_domain = {}
    for item in items:
        by_domain.setdefault(item["domain"], []).append(item["id"])
    assert {domain: len(ids) for domain, ids in by_domain.items()} == {
        "biology": 50, "economics": 50, "leetcode": 50,
    }  # fmt: skip
    again = page_data(write_browser(folder, tmp_path / "again", browse_limit=50))["items"]
    assert [item["id"] for item in again] == [item["id"] for item in items]
    smaller = page_data(write_browser(folder, tmp_path / "small", browse_limit=20))["items"]
    assert len(smaller) == 60 and {i["id"] for i in smaller} < {i["id"] for i in items}


def test_data_budget_limits_the_queries_shown(tmp_path):
    folder = synthetic_output(tmp_path / "out", per_domain=100)
    page = write_browser(folder, tmp_path / "report", browse_limit=100, max_data_bytes=300_000)
    data = page_data(page)
    assert 0 < len(data["items"]) < 300
    assert len(json.dumps(data)) < 300_000
    assert "data budget" in page.read_text()


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        write_browser(tmp_path / "missing", tmp_path / "report")
    with pytest.raises(UserError, match="--browse-limit must be at least 1"):
        write_browser(tmp_path, tmp_path / "report", browse_limit=0)
