"""The plan a simulated controller ships with is one the center would accept: an engineer can save and deploy it
back unchanged (its pattern 2 once gave the lefts a 10 s split, under min green + yellow + red = 10.5 s)."""

from controllers.plans import validate_plan
from firmware_sim.plan import default_plan_doc, parse_plan


def test_the_simulators_default_plan_passes_the_centers_validator() -> None:
    for offset in (0.0, 37.0, 99.0):
        doc = default_plan_doc("tn-sig-001", offset_s=offset)
        report = validate_plan(doc)
        assert report.errors == [], [(e.rule, e.path) for e in report.errors]
        parse_plan(doc)  # and the firmware still runs it
