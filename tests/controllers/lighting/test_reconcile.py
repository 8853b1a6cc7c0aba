"""Overrides, center against cabinet: one action per disagreeing circuit, none where they agree."""

from __future__ import annotations

import datetime as dt

from controllers.lighting.reconcile import Held, reconcile

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
UNTIL = NOW + dt.timedelta(hours=1)


def circuit(n: int, control: str = "program", level: float = 0.0, on: bool = False) -> dict[str, object]:
    return {"circuit": n, "control": control, "level_pct": level, "on": on}


def test_agreeing_cabinet_needs_nothing() -> None:
    held = [Held(2, 40.0, UNTIL), Held(3, 0.0, UNTIL)]
    assert reconcile(held, [circuit(1, level=100, on=True), circuit(2, "override", 40, True),
                            circuit(3, "override", 0)], NOW) == []


def test_a_cabinet_that_forgot_the_override_gets_it_again_with_the_same_until() -> None:
    (action,) = reconcile([Held(2, 40.0, UNTIL)], [circuit(1), circuit(2, level=100, on=True)], NOW)
    assert (action.kind, action.circuit, action.level_pct, action.until) == ("resend", 2, 40.0, UNTIL)


def test_a_wrong_level_is_resent_and_an_unknown_override_cleared() -> None:
    actions = reconcile([Held(1, 60.0, UNTIL)], [circuit(1, "override", 30, True), circuit(2, "override", 100, True)],
                        NOW)
    assert [(a.kind, a.circuit) for a in actions] == [("resend", 1), ("clear", 2)]


def test_an_override_about_to_end_and_unreported_circuits_are_left_alone() -> None:
    soon = Held(1, 60.0, NOW + dt.timedelta(seconds=3))
    assert reconcile([soon, Held(5, 10.0, UNTIL)], [circuit(1)], NOW) == []
