"""On-disk memos of derived model facts: a cache that never costs a result."""
from __future__ import annotations

import os

import pytest

from harness.models.memo import read_memo, write_memo


def test_a_memo_reads_back_what_was_written_and_a_damaged_one_is_none(tmp_path):
    memo = tmp_path / "derived" / "facts.json"
    assert read_memo(memo) is None                      # never written
    write_memo(memo, {"k": [1, 2]})
    assert read_memo(memo) == {"k": [1, 2]}
    assert not list(memo.parent.glob(".*tmp*"))         # written whole, nothing left beside it
    memo.write_text('{"k": [1,')                        # a half-written file from elsewhere
    assert read_memo(memo) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_folder_costs_nothing_but_the_memo(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        write_memo(folder / "facts.json", {"k": 1})     # no exception
        assert read_memo(folder / "facts.json") is None
    finally:
        folder.chmod(0o700)


def test_a_memo_under_a_file_is_quietly_not_kept(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    write_memo(blocker / "facts.json", {"k": 1})        # mkdir fails: no exception
    assert read_memo(blocker / "facts.json") is None
