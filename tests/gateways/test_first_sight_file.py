"""A refused payload is logged once across process restarts: the fingerprints outlive the process, bounded."""

from __future__ import annotations

import logging
from pathlib import Path

from gateways.first_sight_file import FileFirstSight

POISON = b"[" * 2000 + b"]" * 2000


def test_a_retained_poison_is_new_only_to_the_first_process(tmp_path: Path) -> None:
    path = tmp_path / "gw.poison-seen"
    first = FileFirstSight(path)
    assert first.level("sl/v1/tn/a/state", POISON) == logging.WARNING
    assert first.level("sl/v1/tn/a/state", POISON) == logging.DEBUG
    with path.open("a") as f:
        f.write("0f1")  # a line cut short by a crash
    restarted = FileFirstSight(path)
    assert restarted("sl/v1/tn/a/state", POISON) is False
    assert restarted("sl/v1/tn/b/state", POISON) is True, "another topic is another message"


def test_the_file_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "api.poison-seen"
    memo = FileFirstSight(path, max_entries=10)
    for n in range(100):
        assert memo("t", str(n).encode())
    assert len(path.read_text().split()) <= 20
    assert FileFirstSight(path, max_entries=10)("t", b"99") is False
