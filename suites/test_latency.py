"""Latency, load time and peak memory of every device x model x variant x engine cell.

Each test appends one record to reports/<run-id>/results.jsonl; unsupported cells are recorded
with their reason and shown as skipped.
"""


def test_latency(bench):
    record = bench.measure()
    bench.conclude(record)
    assert record.latency["n"] >= 1
