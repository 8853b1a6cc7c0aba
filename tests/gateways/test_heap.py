"""Long-lived objects frozen out of full collections once start-up settles."""

from __future__ import annotations

import gc

from gateways import heap


async def test_freeze_after_moves_survivors_to_the_permanent_generation() -> None:
    kept = [{"device": n} for n in range(1000)]
    gc.unfreeze()
    try:
        await heap.freeze_after(0)
        assert gc.get_freeze_count() >= len(kept)
        assert not any(o is kept for o in gc.get_objects())  # frozen: no longer among the collector's objects
    finally:
        gc.unfreeze()
