"""Ring-and-barrier rules: phase references, the NEMA dual-ring structure, coordinated phases.

Model: each ring lists its phases in running order; phases of one ring time one after another, never
together. Barriers split the phases into groups; every ring runs through the groups in the order of
`barriers`, one group at a time, and all rings cross each barrier together. Two phases may therefore time
together only when they are in different rings and the same group, and that pair must be one the
controller's conflict monitor allows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from controllers.plans.config import ValidatorConfig
from controllers.plans.parts import PlanParts
from controllers.plans.report import Findings


@dataclass(frozen=True)
class Structure:
    """A consistent ring/barrier structure: `groups[g][r]` are ring r's phases in barrier group g, in order."""

    rings: list[list[int]]
    groups: list[list[list[int]]]
    group_of: dict[int, int]
    ring_of: dict[int, int]


def check_unknown_phases(parts: PlanParts, out: Findings) -> bool:
    """Every phase named in rings, barriers and patterns is defined. Returns True when rings/barriers are clean."""
    known = parts.phase_numbers
    clean = True

    def report(path: str, number: int) -> None:
        out.error("unknown_phase", path, sorted(known), number,
                  vi=f"Pha {number} không được định nghĩa trong phases",
                  en=f"phase {number} is not defined in phases")

    for name, lists in (("rings", parts.rings), ("barriers", parts.barriers)):
        for i, group in enumerate(lists or []):
            for j, number in enumerate(group):
                if number not in known:
                    report(f"{name}[{i}][{j}]", number)
                    clean = False
    for k, pattern in parts.patterns:
        for key in pattern.splits_s:
            if int(key) not in known:
                report(f"patterns[{k}].splits_s.{key}", int(key))
        for j, number in enumerate(pattern.coord_phases):
            if number not in known:
                report(f"patterns[{k}].coord_phases[{j}]", number)
    return clean


def check_structure(parts: PlanParts, rules: ValidatorConfig, out: Findings) -> Structure | None:
    """Rule `same_ring_concurrency`; the structure when it holds, for the rules that build on it."""
    if parts.rings is None or parts.barriers is None:
        return None
    rings, barriers, before = parts.rings, parts.barriers, len(out.errors)

    def report(path: str, required: str, found: object, vi: str, en: str) -> None:
        out.error("same_ring_concurrency", path, required, str(found), vi=vi, en=en)

    ring_of = _first_places(rings, parts.phase_numbers, "rings", "vòng", "ring", report)
    group_of = _first_places(barriers, set(ring_of), "barriers", "nhóm rào", "barrier group", report)
    for number in sorted(parts.phase_numbers - set(ring_of)):
        report("rings", "every phase in exactly one ring", f"phase {number} in no ring",
               vi=f"Pha {number} không thuộc vòng nào", en=f"phase {number} is in no ring")
    for number in sorted(set(ring_of) - set(group_of)):
        report("barriers", "every ring phase in exactly one barrier group", f"phase {number} in no group",
               vi=f"Pha {number} không thuộc nhóm rào nào", en=f"phase {number} is in no barrier group")
    order = list(range(len(barriers)))
    for r, ring in enumerate(rings):
        visits = _runs([group_of[n] for n in ring if n in group_of])
        if visits != order:
            report(f"rings[{r}]", f"barrier groups in order {order}", f"{visits}",
                   vi=f"Vòng {r + 1} phải đi qua các nhóm rào {order} theo thứ tự, mỗi nhóm một lần; "
                      f"thực tế {visits}",
                   en=f"ring {r + 1} must run through barrier groups {order} in order, each once; "
                      f"it runs {visits}")
    for g, group in enumerate(barriers):
        for a in group:
            for b in group:
                if a < b and a in ring_of and b in ring_of and ring_of[a] != ring_of[b] \
                        and not rules.is_compatible(a, b):
                    report(f"barriers[{g}]", "only pairs the conflict monitor allows", f"{a}+{b}",
                           vi=f"Pha {a} và {b} chạy cùng lúc nhưng xung đột theo ma trận xung đột",
                           en=f"phases {a} and {b} would time together but conflict in the conflict matrix")
    if len(out.errors) > before:
        return None
    groups = [[[n for n in ring if group_of.get(n) == g] for ring in rings] for g in order]
    return Structure(rings=rings, groups=groups, group_of=group_of, ring_of=ring_of)


def check_coord_phases(parts: PlanParts, structure: Structure, out: Findings) -> None:
    """Rule `coord_phase_barrier`: one coordinated phase per ring, all in one barrier group, each with a split."""
    for k, pattern in parts.patterns:
        path = f"patterns[{k}].coord_phases"
        coord = [n for n in pattern.coord_phases if n in structure.group_of]
        per_ring = sorted(structure.ring_of[n] + 1 for n in coord)
        wanted = list(range(1, len(structure.rings) + 1))
        groups = {structure.group_of[n] for n in coord}
        if per_ring != wanted or len(groups) > 1:
            out.error("coord_phase_barrier", path, "one phase per ring, all in one barrier group",
                      pattern.coord_phases,
                      vi=f"Mẫu {pattern.pattern}: pha phối hợp phải có đúng một pha mỗi vòng, cùng một nhóm rào",
                      en=f"pattern {pattern.pattern}: coordinated phases must be one per ring, "
                         "all in the same barrier group")
        for number in coord:
            if pattern.split_of(number) is None:
                out.error("coord_phase_barrier", path, "a split for each coordinated phase", number,
                          vi=f"Mẫu {pattern.pattern}: pha phối hợp {number} không có split",
                          en=f"pattern {pattern.pattern}: coordinated phase {number} has no split")


class _Report(Protocol):
    def __call__(self, path: str, required: str, found: object, vi: str, en: str) -> None: ...


def _first_places(
    lists: list[list[int]], allowed: Collection[int], name: str, vi_word: str, en_word: str, report: _Report
) -> dict[int, int]:
    """Index of the list that holds each allowed phase; a phase listed again is reported, not moved."""
    place: dict[int, int] = {}
    for i, group in enumerate(lists):
        for j, number in enumerate(group):
            if number not in allowed:  # unknown phases are reported by unknown_phase, not twice
                continue
            if number in place:
                first = place[number] + 1
                report(f"{name}[{i}][{j}]", f"each phase in exactly one {en_word}", f"phase {number} again",
                       vi=f"Pha {number} đã có trong {vi_word} {first}, lại xuất hiện trong {vi_word} {i + 1}",
                       en=f"phase {number} is in {en_word} {first} and again in {en_word} {i + 1}")
            else:
                place[number] = i
    return place


def _runs(values: list[int]) -> list[int]:
    """Values with consecutive repeats collapsed: [0, 0, 1, 1, 0] -> [0, 1, 0]."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]
