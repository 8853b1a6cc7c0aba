"""Versions of a document: a save that loses the race for a number takes the next one; both saves are kept."""

from __future__ import annotations

from api.lighting_store import LIGHTING_VERSIONS
from api.models import LightingVersion
from tests.api.conftest import Harness


def _row(number: int, author: str, when: object) -> LightingVersion:
    return LightingVersion(document_id="city", version=number, name="city", document={}, crc32=1, warnings=[],
                           comment=None, author=author, created_at=when)


async def test_a_save_that_loses_the_race_takes_the_next_number(harness: Harness) -> None:
    now = harness.clock.now()
    tried: list[int] = []

    def make(number: int) -> LightingVersion:
        tried.append(number)
        return _row(number, "second", now)

    async with harness.state.sessions() as second:
        original = second.execute

        async def sneaky(*args: object, **kwargs: object) -> object:
            result = await original(*args, **kwargs)   # `second` reads the newest number, then `first` saves
            if not tried:
                async with harness.state.sessions() as other:
                    other.add(_row(1, "first", now))
                    await other.commit()
            return result

        second.execute = sneaky  # type: ignore[method-assign]
        row = await LIGHTING_VERSIONS.add_next(second, "city", make)
    assert tried == [1, 2] and row.version == 2
    async with harness.state.sessions() as session:
        rows = await LIGHTING_VERSIONS.newest_first(session, "city")
        assert [(r.version, r.author) for r in rows] == [(2, "second"), (1, "first")]
        assert (await LIGHTING_VERSIONS.get(session, "city", 1)) is not None
        assert await LIGHTING_VERSIONS.get(session, "city", 3) is None
