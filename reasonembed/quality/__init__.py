"""Quality of generated data: triviality metrics and filters, BRIGHT decontamination, stats and
the `reasonembed report` command.

- `decontamination.QueryDecontaminator`: generated queries vs benchmark test queries.
- `triviality`: per-sample metrics (plain functions) and their column names.
- `filters`: `TrivialityConfig`, `filter_sample(s)`, `query_drop_reason`, `DropCounts`.
- `summary.summarize`: the `quality` section of stats.json.
- `report`: report.md and PNG plots of a `reasonembed generate` output folder.

May import the helpers, `data`, `retrieval`, `bright` and, to browse an output folder, the run's
output writer (`reasonembed.factory.output_writer`); never steps, train, eval or a command.
"""
