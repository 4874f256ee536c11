"""Compatibility matrix: can each cell load and run at all? ok / unsupported (with reason) / failed.

An unsupported cell is a correct answer, so it passes; only a cell that should run and breaks fails.
"""


def test_compat(bench):
    record = bench.compat()
    bench.conclude(record, unsupported_is_ok=True)
