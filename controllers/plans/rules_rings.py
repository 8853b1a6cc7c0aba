"""Ring-and-barrier rules: phase references, the NEMA ring/barrier structure, coordinated phases.

Model: each ring lists its phases in running order; phases of one ring time one after another, never
together. Barriers split the phases into groups; every ring runs through the groups in the order of
`barriers`, each group at most once, and all rings cross each barrier together. A ring may have no phase in a
group (a T-junction: 2+6 | 4): it rests, all its phases red, for that group's time. Two phases may therefore
time together only when they are in different rings and the same group, and that pair must be one the
controller's conflict monitor allows.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from controllers.plans.config import ValidatorConfig
from controllers.plans.parts import PlanParts
from controllers.plans.report import Findings


@dataclass(frozen=True)
class Structure:
    """A consistent ring/barrier structure: `groups[g][r]` are ring r's phases in barrier group g, in order
    (empty when ring r rests through group g)."""

    rings: list[list[int]]
    groups: list[list[list[int]]]
    group_of: dict[int, int]
    ring_of: dict[int, int]

    @classmethod
    def of(cls, rings: list[list[int]], barriers: list[list[int]]) -> Structure:
        """The structure of rings and barriers that `check_structure` accepted (a validated plan's)."""
        group_of = {n: g for g, group in enumerate(barriers) for n in group}
        ring_of = {n: r for r, ring in enumerate(rings) for n in ring}
        groups = [[[n for n in ring if group_of.get(n) == g] for ring in rings] for g in range(len(barriers))]
        return cls(rings=rings, groups=groups, group_of=group_of, ring_of=ring_of)

    def rings_in(self, group: int) -> list[int]:
        """Indexes of the rings that have a phase in barrier group `group` (the others rest through it)."""
        return [r for r, phases in enumerate(self.groups[group]) if phases]


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
        # Strictly increasing: the groups in order, each at most once; a group left out is one the ring rests
        # through (T-junctions). Going back to a group would time its phases across a barrier.
        if any(b <= a for a, b in itertools.pairwise(visits)):
            report(f"rings[{r}]", f"barrier groups in order {order}, each at most once", f"{visits}",
                   vi=f"Vòng {r + 1} phải đi qua các nhóm rào {order} theo thứ tự, mỗi nhóm nhiều nhất một "
                      f"lần (có thể bỏ qua một nhóm và nghỉ trong nhóm đó); thực tế {visits}",
                   en=f"ring {r + 1} must run through barrier groups {order} in order, each at most once "
                      f"(it may skip a group and rest through it); it runs {visits}")
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
    return Structure.of(rings, barriers)


def check_coord_phases(parts: PlanParts, structure: Structure, out: Findings) -> None:
    """Rule `coord_phase_barrier`: the coordinated phases are all in one barrier group, one for each ring that
    has a phase in that group (a ring resting through it has none), each with a split."""
    for k, pattern in parts.patterns:
        path = f"patterns[{k}].coord_phases"
        coord = [n for n in pattern.coord_phases if n in structure.group_of]
        per_ring = sorted(structure.ring_of[n] + 1 for n in coord)
        groups = {structure.group_of[n] for n in coord}
        wanted = [r + 1 for r in structure.rings_in(next(iter(groups)))] if len(groups) == 1 else None
        if not coord or per_ring != wanted:
            out.error("coord_phase_barrier", path,
                      "all in one barrier group, one phase for each ring with a phase in that group",
                      pattern.coord_phases,
                      vi=f"Mẫu {pattern.pattern}: các pha phối hợp phải cùng một nhóm rào, đúng một pha cho mỗi "
                         "vòng có pha trong nhóm đó",
                      en=f"pattern {pattern.pattern}: coordinated phases must all be in one barrier group, "
                         "exactly one for each ring with a phase in that group")
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
