"""Quality of generated data: triviality metrics and filters, BRIGHT decontamination, stats and
the `reasonembed report` and `reasonembed audit` commands.

- `decontamination.QueryDecontaminator`: generated queries vs benchmark test queries.
- `triviality`: per-sample metrics (plain functions) and their column names.
- `filters`: `TrivialityConfig`, `filter_sample(s)`, `query_drop_reason`, `DropCounts`.
- `summary.summarize`: the `quality` section of stats.json.
- `report`: report.md and PNG plots of a `reasonembed generate` output folder.
- `browse` (+ `browse_sample`, `browse_items`, browse.html): the self-contained sample browser
  report/index.html, with the Audit view when an audit sample exists.
- `audit_sample` / `audit_score`: the human audit of the judge (`reasonembed audit sample|score`):
  a stratified sample of judgements, and agreement of the judge with reviewers' exported marks.

May import the helpers, `data`, `retrieval` and `bright`; never the run (factory), steps, train,
eval or a command.
"""
