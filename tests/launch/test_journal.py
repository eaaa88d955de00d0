import json
import multiprocessing as mp

import pytest

from lpsens.errors import LaunchError
from lpsens.launch.journal import Journal, journal_path, read_journal


def _writer(root, rank, n):
    j = Journal(journal_path(root), "L", rank)
    for i in range(n):
        j.write("checkpoint", job=f"job{rank}", steps=i, pad="x" * 300)


def test_concurrent_appends_never_interleave(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(tmp_path, r, 200)) for r in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    lines = journal_path(tmp_path).read_text().splitlines()
    assert len(lines) == 800
    records = [json.loads(line) for line in lines]  # every line is whole JSON
    for r in range(4):
        steps = [rec["steps"] for rec in records if rec["rank"] == r]
        assert steps == list(range(200))


def test_torn_line_skipped_and_launch_filter(tmp_path):
    Journal(journal_path(tmp_path), "A").write("launch_start")
    Journal(journal_path(tmp_path), "B").write("launch_start")
    with open(journal_path(tmp_path), "a") as fh:
        fh.write('{"event": "fin')  # a writer killed mid-line
    assert [r["launch"] for r in read_journal(tmp_path)] == ["A", "B"]
    assert [r["launch"] for r in read_journal(tmp_path, launch="B")] == ["B"]


def test_unknown_event(tmp_path):
    with pytest.raises(LaunchError, match="unknown journal event"):
        Journal(journal_path(tmp_path), "A").write("started")
