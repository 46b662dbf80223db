"""The data layer: the contracts and files every other layer reads and writes.

- `records`: column names and schemas of every stage (column names are API); `stats`: the
  `stats.json` contract; `output_folder`: the one reader of a `generate` output folder;
  `exports`: training exports in each consumer's format; `data_source`: training rows from a
  folder, a file or a Hub repo.
- `corpus`: corpus loading and validation; `domains`: the retrieval domains (BRIGHT's twelve and
  user-defined ones).
- `textio` (strict UTF-8 files), `textnorm` (normalisation and hashing), `output` (atomic
  writes), `staging` (a folder built beside its place, renamed in as a whole), `diskspace` (a
  full disk as one line).

May import: `reasonembed.errors`, `reasonembed.logs`, `reasonembed.network`, `reasonembed.bright`
(BRIGHT's own files and instructions), `reasonembed.quality.filters` (the triviality settings a
record carries) and itself; never a step (`reasonembed.steps`), the run (`reasonembed.factory`,
`reasonembed.cache`) or a command (tests/test_layers.py checks it). Nothing is imported here:
`import reasonembed.data` loads no module of the package.
"""
