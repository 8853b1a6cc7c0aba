"""Calendar and assignment rules: references exist, date ranges run forward, every night of the checked span is
covered by a rule, no night is decided by a tie between rules choosing different programs."""

from __future__ import annotations

import datetime as dt

from controllers.lighting.calendar import matches, matching_rules
from controllers.lighting.model import Calendar, LightingV1
from controllers.lighting.report import Findings


def check_references(doc: LightingV1, out: Findings) -> None:
    """Identifiers unique; rules name programs and circuits name calendars that exist."""
    for section, key, vi_word, idents in (
        ("programs", "program", "chương trình", [p.program for p in doc.programs]),
        ("calendars", "calendar", "lịch", [c.calendar for c in doc.calendars]),
        ("circuits", "circuit", "mạch", [str(a.circuit) for a in doc.circuits]),
    ):
        seen: set[str] = set()
        for index, ident in enumerate(idents):
            if ident in seen:
                out.error("duplicate_id", f"{section}[{index}].{key}", "unique", ident,
                          vi=f"{vi_word.capitalize()} {ident} được khai báo hai lần",
                          en=f"{key} {ident} is declared twice")
            seen.add(ident)
    programs = sorted({p.program for p in doc.programs})
    for c, calendar in enumerate(doc.calendars):
        for r, rule in enumerate(calendar.rules):
            if rule.program not in programs:
                out.error("unknown_program", f"calendars[{c}].rules[{r}].program", programs, rule.program,
                          vi=f"Lịch {calendar.calendar}, quy tắc '{rule.name}': chương trình {rule.program} "
                             "không tồn tại",
                          en=f"calendar {calendar.calendar}, rule '{rule.name}': program {rule.program} does not exist")
    calendars = sorted({c.calendar for c in doc.calendars})
    for a, assignment in enumerate(doc.circuits):
        if assignment.calendar not in calendars:
            out.error("unknown_calendar", f"circuits[{a}].calendar", calendars, assignment.calendar,
                      vi=f"Mạch {assignment.circuit}: lịch {assignment.calendar} không tồn tại",
                      en=f"circuit {assignment.circuit}: calendar {assignment.calendar} does not exist")
    used = {rule.program for calendar in doc.calendars for rule in calendar.rules}
    for p, program in enumerate(doc.programs):
        if program.program not in used:
            out.warn("unused_program", f"programs[{p}]", None, program.program,
                     vi=f"Chương trình {program.program} không được lịch nào dùng",
                     en=f"program {program.program} is not used by any calendar")


def check_calendar(calendar: Calendar, at: str, nights: list[dt.date], out: Findings) -> None:
    """Ranges forward; every night covered; no tie deciding a night; rules that never apply are warned."""
    for r, rule in enumerate(calendar.rules):
        if rule.from_day is not None and rule.to_day is not None and len(rule.from_day) == 10 \
                and rule.from_day > rule.to_day:
            out.error("day_range", f"{at}.rules[{r}].to_day", f"≥ {rule.from_day}", rule.to_day,
                      vi=f"Lịch {calendar.calendar}, quy tắc '{rule.name}': ngày kết thúc {rule.to_day} trước ngày "
                         f"bắt đầu {rule.from_day}",
                      en=f"calendar {calendar.calendar}, rule '{rule.name}': to_day {rule.to_day} is before "
                         f"from_day {rule.from_day}")
    gaps: list[dt.date] = []
    ties: dict[tuple[int, int], list[dt.date]] = {}
    decided: set[int] = set()
    for night in nights:
        found = matching_rules(calendar, night)
        if not found:
            gaps.append(night)
            continue
        decided.add(id(found[0]))
        for other in found[1:]:
            if other.priority != found[0].priority:
                break
            if other.program != found[0].program:
                key = (calendar.rules.index(found[0]), calendar.rules.index(other))
                ties.setdefault(key, []).append(night)
    if gaps:
        first, count = gaps[0].isoformat(), len(gaps)
        out.error("calendar_gap", at, "a rule for every night", f"{count} nights without a rule, first {first}",
                  vi=f"Lịch {calendar.calendar}: {count} đêm không có quy tắc nào (đầu tiên {first}); đèn sẽ tắt "
                     "cả đêm. Thêm một quy tắc mặc định ưu tiên thấp",
                  en=f"calendar {calendar.calendar}: {count} nights no rule covers (first {first}); the lamps would "
                     "stay off all night. Add a low-priority default rule")
    for (a, b), tied in ties.items():
        rule_a, rule_b = calendar.rules[a], calendar.rules[b]
        out.error("calendar_tie", f"{at}.rules[{b}].priority", f"≠ {rule_a.priority}", rule_b.priority,
                  vi=f"Lịch {calendar.calendar}: quy tắc '{rule_a.name}' và '{rule_b.name}' cùng ưu tiên "
                     f"{rule_a.priority} nhưng chọn chương trình khác nhau ({len(tied)} đêm, đầu tiên "
                     f"{tied[0].isoformat()})",
                  en=f"calendar {calendar.calendar}: rules '{rule_a.name}' and '{rule_b.name}' share priority "
                     f"{rule_a.priority} but pick different programs ({len(tied)} nights, first "
                     f"{tied[0].isoformat()})")
    for r, rule in enumerate(calendar.rules):
        if id(rule) not in decided and nights and any(matches(rule, night) for night in nights):
            out.warn("rule_never_applies", f"{at}.rules[{r}]", "decides some night", "always outranked",
                     vi=f"Lịch {calendar.calendar}: quy tắc '{rule.name}' luôn bị quy tắc ưu tiên cao hơn che",
                     en=f"calendar {calendar.calendar}: rule '{rule.name}' is always outranked by another rule")
