"""Validation: prove a dataset's quality by training on it and evaluating on BRIGHT
(`reasonembed validate`, reasonembed.commands.validate).

One run scores four rows on the same tasks, with the same protocol and query instructions:

    base             BASE untouched
    infonce          BASE trained on the data, plain InfoNCE
    ri-infonce       BASE trained on the data, RI-weighted InfoNCE (Redapter)
    doc-as-positive  BASE trained with plain InfoNCE on the same queries, negatives and batch
                     settings, with each query's source document (`source_text` of the `raw`
                     config) as its only positive: the trivial synthesis that ReMixer's removal of
                     the source document is meant to beat. Compare it with the `infonce` row.
                     Unavailable (and the report says why) when the data has no raw config.

Before any training, the evaluator's contamination guard compares every training query and
document (the control's included) with the tasks' test queries and gold documents. On overlap the
run prints the overlap and stops (the command exits with status 3), unless contamination is
allowed; the report then says so in every row.

Outputs, in the output folder (default DATA/validation/ for a local DATA folder, where the next
`reasonembed publish` picks them up for the dataset card):

    validation.json  {"rows": [...], ...}: `rows` are the card's table, one flat dict per row,
                     nDCG@10 x100 (2 decimals) per task and their unweighted mean; `evaluation`
                     holds every metric as fractions; `training`, `contamination`, `control`,
                     `timings_s` the rest
    validation.md    setup, the table and notes
    ndcg.png         bar chart of nDCG@10 per task and the mean, one bar per row

Evaluation settings: every row is evaluated with the query instructions and token limit that the
trained models record (`reasonembed.json`, see `retrieval.model_settings`), so a kept model folder gets
the same nDCG from `reasonembed eval --model FOLDER` as in this report.

Determinism: training is seeded (batch plan, passage sampling, dropout) and the search is exact,
so the same seed gives the same numbers on the same machine. Trained models live in a temporary
folder unless a folder to keep them is given.

Modules: `run` (the orchestration: data, contamination check, training configs, training and
evaluation of each row, the table's rows), `control` (the doc-as-positive rows), `report`
(validation.md, ndcg.png, and writing the three files).
"""

BASE, INFONCE, RI_INFONCE, CONTROL = "base", "infonce", "ri-infonce", "doc-as-positive"
ROW_NAMES = (BASE, INFONCE, RI_INFONCE, CONTROL)
MEAN_COLUMN = "mean nDCG@10"
