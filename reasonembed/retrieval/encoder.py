"""Text encoders: a Hugging Face or sentence-transformers model, pooled and normalised.

`Encoder.encode(texts) -> np.ndarray[float32, (n, dim)]` runs without gradients (mining,
evaluation); `Encoder.embed(texts) -> torch.Tensor` keeps them (training). Queries take an
instruction through `encode_queries`; documents are encoded as they are.
`CachedEncoder` adds the embedding cache keyed by model fingerprint and text hash.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from reasonembed.data.textnorm import text_hash
from reasonembed.logs import Progress, quiet_model_loading
from reasonembed.retrieval.cache import EmbeddingCache
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE, format_query
from reasonembed.retrieval.models import model_fingerprint, resolve_dtype, resolve_model_path
from reasonembed.retrieval.pooling import POOLING_MODES, pool

logger = logging.getLogger(__name__)

# sentence-transformers pooling names -> ours
_ST_POOLING_NAMES = {"mean": "mean", "cls": "cls", "lasttoken": "last_token"}
DECODER_MODEL_TYPES = {"qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gemma3", "phi3"}


def is_decoder_model(name_or_path: str, trust_remote_code: bool = False) -> bool:
    """Whether a model (alias, folder or Hub id) is a decoder-only backbone, read from its config
    alone (no weights loaded)."""
    config = AutoConfig.from_pretrained(
        resolve_model_path(name_or_path), trust_remote_code=trust_remote_code
    )
    return getattr(config, "model_type", "") in DECODER_MODEL_TYPES


def read_sentence_transformers_settings(folder: Path) -> dict:
    """Pooling, normalisation and max length declared by a sentence-transformers folder ({} if none)."""
    modules_file = folder / "modules.json"
    if not modules_file.exists():
        return {}
    settings: dict = {"normalize": False}
    for module in json.loads(modules_file.read_text()):
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            config = json.loads((folder / module["path"] / "config.json").read_text())
            # sentence-transformers >= 6 writes `pooling_mode`; older versions one flag per mode
            declared_mode = config.get("pooling_mode")
            if isinstance(declared_mode, list) and len(declared_mode) == 1:
                declared_mode = declared_mode[0]
            if declared_mode in _ST_POOLING_NAMES:
                settings["pooling"] = _ST_POOLING_NAMES[declared_mode]
            for mode, key in (
                ("cls", "pooling_mode_cls_token"),
                ("mean", "pooling_mode_mean_tokens"),
                ("last_token", "pooling_mode_lasttoken"),
            ):
                if config.get(key):
                    settings["pooling"] = mode
        elif kind.endswith("Normalize"):
            settings["normalize"] = True
    bert_config = folder / "sentence_bert_config.json"
    if bert_config.exists():
        max_length = json.loads(bert_config.read_text()).get("max_seq_length")
        if max_length:
            settings["max_length"] = int(max_length)
    tokenizer_config = folder / "tokenizer_config.json"
    if "max_length" not in settings and tokenizer_config.exists():
        # sentence-transformers >= 6 keeps max_seq_length as the tokenizer's model_max_length
        max_length = json.loads(tokenizer_config.read_text()).get("model_max_length")
        if isinstance(max_length, int) and 0 < max_length <= 1_000_000:
            settings["max_length"] = max_length
    return settings


class Encoder:
    """A transformer encoder with pooling.

    Args:
        model_name_or_path: a local folder, a bundled alias (see `models.BUNDLED_MODELS`) or a Hub id.
        pooling: "auto" (the folder's sentence-transformers setting, else last_token for decoder
            models and mean otherwise), "mean", "cls" or "last_token".
        max_length: token limit per text (None: the folder's setting, else 512).
        normalize: L2-normalise outputs (None: the folder's setting, else True).
        device: "cpu", "cuda", ... (None: cuda when available, else cpu).
        dtype: weights' dtype: a torch dtype, "float32", "float16", "bfloat16", or "auto"
            (float16/bfloat16 on a GPU, float32 on a CPU); None: float32.
        query_template: how an instruction and a query are joined.
        trust_remote_code: let transformers run the model repository's own code (models such
            as gte-Qwen2-7B-instruct ship their modelling code).
        random_weights: build the model from the folder's config with random weights instead of
            loading any (benchmarks of large shapes whose weights are not at hand): drawn from
            torch's RNG in float32 directly on `device`, then cast to `dtype`, so one seed gives
            the same weights in every dtype.
    """

    def __init__(
        self,
        model_name_or_path: str,
        pooling: str = "auto",
        max_length: int | None = None,
        normalize: bool | None = None,
        device: str | None = None,
        dtype: torch.dtype | str | None = None,
        query_template: str = DEFAULT_QUERY_TEMPLATE,
        trust_remote_code: bool = False,
        random_weights: bool = False,
    ) -> None:
        self.name = model_name_or_path
        self.path = resolve_model_path(model_name_or_path)
        folder = Path(self.path)
        declared = read_sentence_transformers_settings(folder) if folder.is_dir() else {}
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.path, trust_remote_code=trust_remote_code
        )
        if random_weights:
            config = AutoConfig.from_pretrained(self.path, trust_remote_code=trust_remote_code)
            with self.device:
                self.model = AutoModel.from_config(
                    config, trust_remote_code=trust_remote_code, dtype=torch.float32
                )
            self.model.to(self.dtype)
            self.model.config.dtype = self.dtype
        else:
            quiet_model_loading()
            self.model = AutoModel.from_pretrained(
                self.path, trust_remote_code=trust_remote_code, dtype=self.dtype
            )
        model_type = getattr(self.model.config, "model_type", "")
        if pooling == "auto":
            pooling = declared.get("pooling") or (
                "last_token" if model_type in DECODER_MODEL_TYPES else "mean"
            )
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be 'auto' or one of {POOLING_MODES}, got {pooling!r}")
        self.pooling = pooling
        self.max_length = max_length or declared.get("max_length") or 512
        self.normalize = declared.get("normalize", True) if normalize is None else normalize
        self.query_template = query_template
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.pooling == "last_token":
            self.tokenizer.padding_side = "left"
        self.model.to(self.device)
        self.model.eval()

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def fingerprint(self) -> str:
        """Identity of everything that decides an embedding (weights, pooling, length, norm,
        dtype when not float32: earlier float32 fingerprints stay valid)."""
        parts = [
            model_fingerprint(self.path),
            self.pooling,
            str(self.max_length),
            "norm" if self.normalize else "raw",
        ]
        if self.dtype != torch.float32:
            parts.append(str(self.dtype).removeprefix("torch."))
        return "-".join(parts)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings [len(texts), dim] with gradients (training)."""
        batch = self.tokenize(texts)
        # a decoder's key/value cache serves generation only: without this it holds every
        # layer's keys and values until the forward returns
        options = {"use_cache": False} if self.is_decoder else {}
        hidden = self.model(**batch, **options).last_hidden_state
        vectors = pool(hidden, batch["attention_mask"], self.pooling)
        if self.normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
        return vectors

    @torch.inference_mode()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        show_progress: bool = False,
        desc: str = "encoding",
    ) -> np.ndarray:
        """float32 embeddings [len(texts), dim], in the order of `texts`."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # a bar on a terminal, else a line every REASONEMBED_PROGRESS_EVERY_S (reasonembed.logs)
        with Progress(desc, len(texts), unit="text", enabled=show_progress) as progress:
            for start in range(0, len(texts), batch_size):
                index = order[start : start + batch_size]
                vectors = self.embed([texts[i] for i in index])
                out[index] = vectors.float().cpu().numpy()
                progress.update(len(index))
        return out

    def format_queries(self, queries: Sequence[str], instruction: str | None) -> list[str]:
        return [format_query(query, instruction, self.query_template) for query in queries]

    def encode_queries(
        self, queries: Sequence[str], instruction: str | None = None, **kwargs
    ) -> np.ndarray:
        """Embeddings of `queries`, each formatted with `instruction` (None: bare)."""
        return self.encode(self.format_queries(queries, instruction), **kwargs)

    # --- training support ------------------------------------------------------------------
    @property
    def is_decoder(self) -> bool:
        """True for decoder-only backbones (Qwen, Llama, Mistral, ...), where LoRA is the default."""
        return getattr(self.model.config, "model_type", "") in DECODER_MODEL_TYPES

    @property
    def has_lora(self) -> bool:
        return hasattr(self.model, "peft_config")

    def enable_lora(
        self,
        r: int = 32,
        alpha: int = 64,
        dropout: float = 0.1,
        target_modules: str | Sequence[str] = "all-linear",
    ) -> None:
        """Wrap the model in peft LoRA adapters (only they train); defaults are the paper's."""
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=r,
            lora_alpha=alpha,
            lora_dropout=dropout,
            target_modules=target_modules
            if isinstance(target_modules, str)
            else list(target_modules),
            task_type="FEATURE_EXTRACTION",
        )
        self.model = get_peft_model(self.model, config)

    def save(self, folder: str | Path) -> Path:
        """Write a sentence-transformers folder: `SentenceTransformer(folder)` and `Encoder(folder)`
        load it with this encoder's pooling, max length and normalisation.

        LoRA adapters are merged into the weights first (in place: the encoder keeps working,
        now without adapters).
        """
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.has_lora:
            self.model = self.model.merge_and_unload()
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        st_pooling = {ours: theirs for theirs, ours in _ST_POOLING_NAMES.items()}[self.pooling]
        modules = [
            Transformer(str(folder), max_seq_length=self.max_length),
            Pooling(self.dim, st_pooling),
        ]
        if self.normalize:
            modules.append(Normalize())
        SentenceTransformer(modules=modules, device="cpu").save(str(folder))
        return folder


class CachedEncoder:
    """An `Encoder` whose embeddings are kept in an `EmbeddingCache` (model fingerprint + text hash).

    Only texts not in the cache are encoded; new vectors are added as one atomic shard.
    """

    def __init__(self, encoder: Encoder, cache_dir: str | Path | None) -> None:
        self.encoder = encoder
        self.cache = EmbeddingCache(cache_dir, encoder.fingerprint) if cache_dir else None
        self.hits = 0
        self.misses = 0

    def encode(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        if self.cache is None:
            self.misses += len(texts)
            return self.encoder.encode(texts, **kwargs)
        keys = [text_hash(text) for text in texts]
        found, vectors = self.cache.get_many(keys, self.encoder.dim)
        missing = np.flatnonzero(~found)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if len(missing):
            fresh = self.encoder.encode([texts[i] for i in missing], **kwargs)
            vectors[missing] = fresh
            self.cache.put_many([keys[i] for i in missing], fresh)
        logger.debug(
            "embedding cache: %d hits, %d encoded", len(texts) - len(missing), len(missing)
        )
        return vectors

    def encode_queries(
        self, queries: Sequence[str], instruction: str | None = None, **kwargs
    ) -> np.ndarray:
        return self.encode(self.encoder.format_queries(queries, instruction), **kwargs)
