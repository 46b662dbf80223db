"""The published exports work in their real consumers, read back from the loopback Hub at a tag."""

from __future__ import annotations

import datasets
import torch
from huggingface_hub import snapshot_download

from reasonembed.hub.release import publish
from reasonembed.retrieval import resolve_model_path
from tests.support.factory_output import N_NEGATIVES, write_output

REPO = "org/remixer-consumers"


def test_sentence_transformers_trainer_takes_a_step(hub_server, tmp_path):
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    publish(write_output(tmp_path / "out"), REPO, "1.0.0")
    publish(write_output(tmp_path / "out2", revision=2), REPO, "1.1.0")
    train = datasets.load_dataset(REPO, "sentence-transformers", revision="v1.0.0", split="train")
    assert train.column_names == ["anchor", "positive"] + [
        f"negative_{k}" for k in range(1, N_NEGATIVES + 1)
    ]
    assert all(
        anchor.startswith("[r1]") for anchor in train["anchor"]
    )  # the 1.0.0 rows, not 1.1.0's

    model = SentenceTransformer(resolve_model_path("minilm"), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "st"),
        max_steps=1,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=MultipleNegativesRankingLoss(model)
    )
    result = trainer.train()
    assert trainer.state.global_step == 1
    assert result.training_loss > 0
    assert any(
        not torch.equal(old, new.detach())
        for old, new in zip(before, model.parameters(), strict=True)
    )


def test_flagembedding_dataset_class_reads_the_files_at_the_tag(hub_server, tmp_path):
    from FlagEmbedding.abc.finetune.embedder import (
        AbsEmbedderDataArguments,
        AbsEmbedderTrainDataset,
    )
    from transformers import AutoTokenizer

    publish(write_output(tmp_path / "out"), REPO, "1.0.0")
    publish(write_output(tmp_path / "out2", domains={"biology": 2}, revision=2), REPO, "1.1.0")
    folder = snapshot_download(
        REPO,
        repo_type="dataset",
        revision="v1.0.0",
        allow_patterns=["flagembedding/*"],
        cache_dir=tmp_path / "hub",
    )
    train_dir = f"{folder}/flagembedding"

    args = AbsEmbedderDataArguments(
        train_data=[train_dir],
        cache_path=str(tmp_path / "fe-cache"),
        train_group_size=4,
        knowledge_distillation=True,
        query_instruction_for_retrieval="",
        query_instruction_format="{}: {}",
    )
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("minilm"))
    dataset = AbsEmbedderTrainDataset(args=args, tokenizer=tokenizer)
    assert len(dataset) == 5  # biology 3 + leetcode 2 of v1.0.0
    query, passages, scores = dataset[0]
    assert query.startswith("Given a ") and "[r1]" in query  # prompt + query of the 1.0.0 rows
    assert len(passages) == 4 and len(scores) == 4
    assert scores[0] >= 3 and all(score < 3 for score in scores[1:])  # 1 positive, then negatives
