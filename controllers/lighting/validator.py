"""`validate_lighting`: every rule of the lighting format, every failure named at once.

The rules that depend on the sun and the calendar run over a span of nights (a year from `from_date` by default,
so every season and DST change is seen): the caller names the first night, the domain never reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from controllers.lighting.model import LightingV1
from controllers.lighting.report import Findings, ValidationReport
from controllers.lighting.rules_calendar import check_calendar, check_references
from controllers.lighting.rules_program import check_program
from controllers.lighting.sun import AstralSun, SunTable
from controllers.plans.report import Findings as SchemaFindings
from controllers.plans.validator import _schema_issues

SPAN_NIGHTS = 366


def validate_lighting(
    data: Mapping[str, Any] | LightingV1,
    *,
    from_date: dt.date,
    nights: int = SPAN_NIGHTS,
    sun: SunTable | None = None,
) -> ValidationReport:
    """Check a lighting document (parsed JSON or a model); never raises for a bad document.

    `from_date` is the first night checked, `nights` how many (≥ 1); `sun` defaults to astral at the document's
    site. Returns all errors (the document must be refused when there is any) and all warnings.
    """
    if nights < 1:
        raise ValueError(f"nights must be ≥ 1, got {nights}")
    out = Findings()
    if isinstance(data, LightingV1):
        doc = data
    else:
        try:
            doc = LightingV1.model_validate(dict(data))
        except ValidationError as exc:
            # A document that does not parse has no sound parts to time against the sun: report its shape only.
            # The timing plans' converter names each pydantic error the same way (path, required, found, vi/en).
            shape = SchemaFindings()
            _schema_issues(exc, shape)
            out.errors.extend(shape.errors)
            return out.report()
    table = sun or AstralSun(doc.site.lat, doc.site.lon, doc.site.timezone)
    tz = ZoneInfo(doc.site.timezone)
    span = [from_date + dt.timedelta(days=n) for n in range(nights)]
    check_references(doc, out)
    for p, program in enumerate(doc.programs):
        check_program(program, f"programs[{p}]", span, tz, table, out)
    for c, calendar in enumerate(doc.calendars):
        check_calendar(calendar, f"calendars[{c}]", span, out)
    return out.report()
