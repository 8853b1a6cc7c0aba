"""The replay window: ids kept until they expire, on disk, bounded, surviving a damaged last line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateways.replay_window import ReplayWindow

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


async def test_ids_survive_a_restart_until_they_expire(tmp_path: Path) -> None:
    path = tmp_path / "gw.command-ids"
    w = ReplayWindow(path)
    w.load(T0)
    await w.add("cmd-short", T0 + timedelta(seconds=30), T0)
    await w.add("cmd-long", T0 + timedelta(hours=1), T0)
    with path.open("a") as f:
        f.write('{"id": "cmd-cut')  # a crash in the middle of a write
    again = ReplayWindow(path)
    again.load(T0 + timedelta(minutes=1))
    assert "cmd-long" in again and "cmd-short" not in again and len(again) == 1
    assert path.read_text().count("\n") == 1, "rewritten with the live ids only"


async def test_bounded_the_soonest_expiring_goes_first_and_is_counted() -> None:
    w = ReplayWindow(None, max_ids=3)
    for n in range(5):
        await w.add(f"cmd-{n}", T0 + timedelta(seconds=100 - n), T0)
    # Full at cmd-3: cmd-2 (expiring at 98 s) goes; full at cmd-4: cmd-3 (97 s) goes. The newest stays.
    assert len(w) == 3 and w.evicted == 2
    assert {f"cmd-{n}" for n in range(5) if f"cmd-{n}" in w} == {"cmd-0", "cmd-1", "cmd-4"}


async def test_the_file_is_compacted_as_ids_expire(tmp_path: Path) -> None:
    path = tmp_path / "gw.command-ids"
    w = ReplayWindow(path)
    w.load(T0)
    for n in range(1500):
        now = T0 + timedelta(seconds=n)
        await w.add(f"cmd-{n:06d}", now + timedelta(seconds=10), now)
    assert len(w) <= 11
    assert path.read_text().count("\n") < 1100
