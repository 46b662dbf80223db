"""Versioned Hugging Face Hub releases of factory outputs, with dataset cards.

- `layout`: which files of a `reasonembed generate` folder a release holds, and where.
- `facts`: counts, models, prompt hashes and quality figures, read with bounded memory.
- `card`: the README.md dataset card, rendered from datacards/remixer_dataset.md.j2.
- `release.publish`: one commit + one immutable tag `vX.Y.Z` (or a dry-run tree on disk).
- `command`: the `reasonembed publish` CLI.

May import the helpers, `data` (the output folder, stats.json), `quality`, `bright` and
`validation` (the validation figures a card shows); never the run, steps, train or eval.
"""

from reasonembed.hub.release import Release, publish

__all__ = ["Release", "publish"]
