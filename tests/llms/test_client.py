"""The LLM client layer against the stand-in server on 127.0.0.1: answers committed as they
arrive, stragglers holding one slot only, chat-template arguments sent, reasoning stripped, no
log line per request, and LLMs that pickle whether loaded or not."""

from __future__ import annotations

import logging
import pickle
import threading
import time

import openai
import pytest
import yaml

from reasonembed.config import parse_config
from reasonembed.errors import UserError
from reasonembed.llms import build_llm, strip_reasoning
from reasonembed.llms.openai_compat import OpenAICompatibleLLM
from reasonembed.llms.request_cache import RequestCache
from tests.support.standin_server import StandinServer, standin_answer

NO_THINKING = {"enable_thinking": False}


def make_llm(url: str, tmp_path, load: bool = True, **fields) -> OpenAICompatibleLLM:
    llm = OpenAICompatibleLLM(
        model="standin",
        base_urls=[url],
        timeout_s=30,
        request_cache_path=str(tmp_path / "requests.sqlite"),
        **fields,
    )
    if load:
        llm.load()
    return llm


def test_strip_reasoning():
    assert strip_reasoning("<think>a</think>\n answer ") == "answer"
    assert strip_reasoning("no tag, kept as is ") == "no tag, kept as is"
    # up to the LAST closing tag (the authors strip everything before `</think>`)
    assert strip_reasoning("<think>x</think>y</think> z") == "z"
    assert strip_reasoning("preamble</think>z") == "z"
    # the token limit cut the reasoning: there is no answer
    assert strip_reasoning("  <think>still thinking <score>5</score>") == ""


def test_chat_template_kwargs_are_sent_and_think_blocks_stripped(tmp_path):
    prompt = "Judge the document. End with <score>N</score>."
    with StandinServer(think=True) as server:
        llm = make_llm(server.url, tmp_path, top_k=40, chat_template_kwargs=NO_THINKING)
        [completion] = llm.complete([prompt], template_hash="t", stage="annotation")
        body = server.bodies[-1]
        assert body["chat_template_kwargs"] == NO_THINKING and body["top_k"] == 40
        assert completion.text == standin_answer(prompt) and "think>" not in completion.text
        assert completion.completion_tokens > len(completion.text) // 4  # reasoning was paid
        # the cache holds the stripped answer, and serves it
        [again] = llm.complete([prompt], template_hash="t", stage="annotation")
        assert again.cached and again.text == completion.text
        assert RequestCache(tmp_path / "requests.sqlite").get_many(["nope"]) == [None]
        # the template arguments are part of the request's identity
        other = make_llm(server.url, tmp_path, top_k=None)
        assert not other.complete([prompt], template_hash="t")[0].cached
        assert "chat_template_kwargs" not in server.bodies[-1] and "top_k" not in server.bodies[-1]
        assert server.stats()["answered_twice"] == 1
        llm.unload()
        other.unload()


def test_config_chat_template_kwargs_reach_the_backend(tmp_path):
    config = parse_config(
        {
            "domains": [{"domain": "leetcode", "corpus": {"path": "x.jsonl"}}],
            "annotator": {
                "backend": "openai",
                "model": "m",
                "base_url": "http://127.0.0.1:1/v1",
                "chat_template_kwargs": NO_THINKING,
            },
        }
    )
    llm = build_llm(config.annotator, str(tmp_path), 42)
    assert llm.chat_template_kwargs == NO_THINKING
    assert llm.settings()["chat_template_kwargs"] == NO_THINKING
    assert yaml.safe_load(yaml.safe_dump(llm.dump()))["chat_template_kwargs"] == NO_THINKING
    assert "chat_template_kwargs" not in build_llm(config.generator, str(tmp_path), 42).settings()


def test_answers_are_committed_as_they_arrive_and_a_straggler_holds_one_slot(tmp_path):
    quick = [f"quick question {i}" for i in range(20)]
    prompts = ["a straggler [delay:4]", *quick]
    with StandinServer() as server:
        llm = make_llm(server.url, tmp_path, concurrency=2)
        result: list = []
        call = threading.Thread(target=lambda: result.append(llm.complete(prompts, "t")))
        call.start()
        cache = RequestCache(tmp_path / "requests.sqlite")
        seen = set()
        while call.is_alive():
            seen.add(len(cache))
            time.sleep(0.05)
        call.join()
        # the other slot answered all 20 quick prompts, each committed on arrival, while the
        # straggler was still out (for about 4 s the cache held exactly those 20)
        assert len(quick) in seen
        assert [c.text for c in result[0]] == [standin_answer(p) for p in prompts]
        assert len(cache) == len(prompts)
        llm.unload()


def test_connections_are_reused_across_calls(tmp_path):
    with StandinServer() as server:
        llm = make_llm(server.url, tmp_path, concurrency=4)
        for call in range(3):
            llm.complete([f"call {call} prompt {i}" for i in range(30)], "t")
        assert server.stats()["answered"] == 90
        assert server.stats()["connections"] <= 4  # one per worker, kept open between calls
        llm.unload()


def test_no_log_line_per_request(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.NOTSET)  # as in a fresh step process
    with StandinServer() as server:
        # the installed openai client does log one INFO line per request...
        client = openai.OpenAI(base_url=server.url, api_key="EMPTY")
        client.chat.completions.create(model="standin", messages=[{"role": "user", "content": "x"}])
        client.close()
        assert any("HTTP Request" in record.getMessage() for record in caplog.records)
        caplog.clear()
        # ...and a loaded LLM silences it (in whatever process loads it)
        llm = make_llm(server.url, tmp_path, concurrency=4)
        llm.complete([f"prompt {i}" for i in range(10)], "t")
        llm.unload()
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


def test_openai_backend_pickles_loaded_and_after_a_failed_load(tmp_path, monkeypatch):
    with StandinServer() as server:
        llm = make_llm(server.url, tmp_path)
        first = llm.complete(["one", "two"], "t")
        copy = pickle.loads(pickle.dumps(llm))
        assert copy.model_dump() == llm.model_dump()
        # the copy opens its own cache and clients on first use
        again = copy.complete(["one", "two", "three"], "t")
        assert [c.cached for c in again] == [True, True, False]
        assert [c.text for c in again[:2]] == [c.text for c in first]
        copy.unload()
        llm.unload()

    monkeypatch.delenv("REASONEMBED_UNSET_KEY", raising=False)
    broken = make_llm(
        "http://127.0.0.1:1/v1", tmp_path, load=False, api_key_env="REASONEMBED_UNSET_KEY"
    )
    with pytest.raises(UserError, match="REASONEMBED_UNSET_KEY"):
        broken.load()
    assert pickle.loads(pickle.dumps(broken)).api_key_env == "REASONEMBED_UNSET_KEY"


def test_local_backend_pickles_after_load_and_passes_template_arguments(local_model_dir, tmp_path):
    from reasonembed.llms.local import LocalTransformersLLM

    llm = LocalTransformersLLM(
        model=str(local_model_dir),
        request_cache_path=str(tmp_path / "requests.sqlite"),
        chat_template_kwargs=NO_THINKING,
    )
    llm.load()
    copy = pickle.loads(pickle.dumps(llm))
    assert copy.model_dump() == llm.model_dump() and copy._model is None
    # the real tokenizer renders a template that reads the argument
    llm._tokenizer.chat_template = (
        "{% if enable_thinking is defined and not enable_thinking %}NO-THINK {% endif %}"
        + llm._tokenizer.chat_template
    )
    messages = [{"role": "user", "content": "hi"}]
    assert llm._chat_text(messages).startswith("NO-THINK ")
    llm.chat_template_kwargs = None
    assert not llm._chat_text(messages).startswith("NO-THINK ")
