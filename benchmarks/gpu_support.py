"""What `benchmarks/gpu.py` builds its checks from: the paper models' shapes, random models with a
word-level tokenizer (one token per word), batches and files of random words, device helpers."""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Hugging Face configs of the paper's models (no weights: they are drawn at random)
QWEN3_8B = dict(
    model_type="qwen3",
    vocab_size=151936,
    hidden_size=4096,
    intermediate_size=12288,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
)
GTE_QWEN2_7B = dict(
    model_type="qwen2",
    vocab_size=151646,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
)
SMOLLM2_135M = dict(
    model_type="llama",
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    tie_word_embeddings=True,
)
MINILM_L6 = dict(
    model_type="bert",
    vocab_size=30522,
    hidden_size=384,
    intermediate_size=1536,
    num_hidden_layers=6,
    num_attention_heads=12,
    max_position_embeddings=512,
)
# --tiny: every shape shrunk to this (same model type)
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    vocab_size=1000,
)
WORDS = (
    "gravity ocean tide moon orbit force mass energy wave cell protein enzyme market price "
    "demand supply inflation rate array index pointer recursion graph node edge theorem proof "
    "integer prime lemma volcano magma crust plate fault glacier valley river erosion sediment "
    "why how does what is the a of to in and for with when it"
).split()


class Context:
    """Where the checks run: device, scale (--tiny) and a scratch folder."""

    def __init__(self, device: str, tiny: bool, root: Path) -> None:
        import torch

        self.torch, self.device, self.tiny, self.root = torch, torch.device(device), tiny, root
        self.cuda = self.device.type == "cuda"

    def shape(self, full: dict) -> dict:
        """The paper shape, or under --tiny its toy version (same model type)."""
        return {**full, **TINY} if self.tiny else full

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float | None:
        """Peak GPU memory allocated since the last reset_peak (None on a CPU)."""
        return self.torch.cuda.max_memory_allocated(self.device) / 2**30 if self.cuda else None

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def timed(self, work, *args, **kwargs) -> tuple[object, float]:
        """(work(*args, **kwargs), seconds), the device synchronised around it."""
        self.sync()
        started = time.perf_counter()
        result = work(*args, **kwargs)
        self.sync()
        return result, time.perf_counter() - started


def text(rng: random.Random, words: int) -> str:
    """`words` random words: exactly `words` tokens for the word-level tokenizer."""
    return " ".join(rng.choice(WORDS) for _ in range(words))


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(["[PAD]", "[UNK]", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="[PAD]",
        unk_token="[UNK]",
        model_input_names=["input_ids", "attention_mask"],
    )


def model_folder(ctx: Context, name: str, shape: dict, weights: bool) -> str:
    """A model folder under ctx.root (made once): config and word tokenizer, plus seeded random
    float32 weights if `weights` (else `Encoder(..., random_weights=True)` draws them)."""
    from transformers import AutoConfig, AutoModel

    folder = ctx.root / name
    if not folder.exists():
        config = AutoConfig.for_model(**ctx.shape(shape))
        if weights:
            ctx.torch.manual_seed(0)
            AutoModel.from_config(config).save_pretrained(folder)
        else:
            config.save_pretrained(folder)
        word_tokenizer().save_pretrained(folder)
    return str(folder)


def make_batch(queries: int, group: int, tokens: int, seed: int = 0):
    """A training batch of random texts, every one `tokens` tokens long (with q')."""
    from reasonembed.train.data import Batch

    rng = random.Random(seed)
    first = [text(rng, tokens) for _ in range(queries)]
    second = [text(rng, tokens) for _ in range(queries)]
    passages = [text(rng, tokens) for _ in range(queries * group)]
    return Batch("bench", first, second, passages, group)


def run_cli(args: list) -> tuple[int, float, str]:
    """`python -m reasonembed.cli ARGS` from this checkout: (exit code, seconds, stderr tail)."""
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    command = [sys.executable, "-m", "reasonembed.cli", *map(str, args)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    return done.returncode, time.perf_counter() - started, done.stderr[-800:]


def write_cli_data(root: Path) -> tuple[Path, Path]:
    """(a reasonembed-format training file, a BRIGHT-layout folder with two tasks) of random
    words; each BRIGHT query is the start of its one gold document."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from reasonembed.bright.data import file_name

    rng = random.Random(3)
    data = root / "data" / "biology-formatted.jsonl"
    data.parent.mkdir(parents=True)
    with data.open("w") as out:
        for _ in range(8):
            row = dict(prompt="retrieve", query=text(rng, 12), reasoning_query=text(rng, 20))
            row.update(pos=[text(rng, 30)], neg=[text(rng, 30) for _ in range(3)])
            out.write(json.dumps({**row, "train_group_size": 4, "batch_size": 4}) + "\n")
    bright = root / "bright"
    for task in ("biology", "leetcode"):
        docs = {f"{task}/doc {i}.txt": text(rng, 40) for i in range(30)}
        examples = [
            dict(id=str(i), query=" ".join(docs[f"{task}/doc {i}.txt"].split()[:15]))
            | dict(reasoning="", gold_answer="", gold_ids=[f"{task}/doc {i}.txt"])
            | dict(gold_ids_long=["N/A"], excluded_ids=["N/A"])
            for i in range(5)
        ]
        tables = {
            "examples": pa.Table.from_pylist(examples),
            "documents": pa.table({"id": list(docs), "content": list(docs.values())}),
        }
        for config, table in tables.items():
            (bright / file_name(config, task)).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, bright / file_name(config, task))
    return data, bright
