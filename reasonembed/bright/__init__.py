"""What the project knows about the BRIGHT benchmark, in one place.

- `reasonembed.bright.data`: the 12 tasks, the Hub dataset and its pinned revision, the file
  layout, and loaders of test queries, documents, gold and excluded ids (with the corpus aops
  and theoremqa_questions share).
- `reasonembed.bright.instructions`: BRIGHT's instruction wordings (the official per-family
  prefixes and FlagEmbedding's, the latter also each BRIGHT domain's training instruction).

Used by the domains, seed selection, decontamination, the corpus loader and the evaluation.
"""
