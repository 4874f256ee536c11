"""Run data -> the report and the other per-run outputs.

load/decode/frame: results.jsonl -> one record table; cells: pooled latency cells; tables,
compat, governor, traces, compare: what each section shows; model: all of it as plain data;
write + templates/: one self-contained report.html; svg: its charts; flat: results.csv;
junit: --junitxml properties; markdown: $GITHUB_STEP_SUMMARY; summary: the terminal table.
"""
