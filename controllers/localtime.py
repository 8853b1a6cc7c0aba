"""Local time zones: operations centers run on local time (Asia/Ho_Chi_Minh by default), stored times are UTC."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


def known_timezone(value: str) -> str:
    """`value` if it names an IANA time zone; raises ValueError naming it otherwise (for pydantic validators)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name like {DEFAULT_TIMEZONE})") from None
    return value
