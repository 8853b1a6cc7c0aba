"""The plan's rings and barrier groups as SUMO's NEMA controller lays them out: two rings of four slots, two
slots on each side of its one barrier pair (see `controllers/twin/nema.py`). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from controllers.plans.model import Pattern, PlanV1

SUMO_MAX_PHASE = 8
SUMO_RINGS = 2
SUMO_GROUPS = 2
SLOTS_PER_GROUP = 2


class RingLayout:
    """The plan's rings × barrier groups as SUMO needs them: two rings, two groups, ≤ 2 phases each."""

    def __init__(self, cells: list[list[list[int]]], group_index: dict[int, int]) -> None:
        self.cells = cells            # cells[ring][group]: that ring's phases in that group, in ring order
        self._group = group_index

    @classmethod
    def of(cls, plan: PlanV1) -> RingLayout:
        for i, ph in enumerate(plan.phases):
            if ph.phase > SUMO_MAX_PHASE:
                raise ValueError(f"phases[{i}].phase: SUMO's NEMA controller numbers phases 1–{SUMO_MAX_PHASE}, "
                                 f"found {ph.phase}")
        if len(plan.rings) > SUMO_RINGS:
            raise ValueError(f"rings: SUMO's NEMA controller has {SUMO_RINGS} rings, the plan has "
                             f"{len(plan.rings)}")
        if len(plan.barriers) != SUMO_GROUPS:
            raise ValueError(f"barriers: SUMO's NEMA controller has {SUMO_GROUPS} barrier groups (one barrier "
                             f"pair), the plan has {len(plan.barriers)}")
        defined = {p.phase for p in plan.phases}
        group_index: dict[int, int] = {}
        for g, group in enumerate(plan.barriers):
            for p in group:
                if p not in defined:
                    raise ValueError(f"barriers[{g}]: phase {p} is not defined in phases")
                group_index[p] = g
        in_rings = [p for ring in plan.rings for p in ring]
        if sorted(in_rings) != sorted(defined) or sorted(group_index) != sorted(defined):
            raise ValueError("rings/barriers: every phase must be in exactly one ring and one barrier group")
        cells = [[[p for p in ring if group_index[p] == g] for g in range(SUMO_GROUPS)] for ring in plan.rings]
        for r, ring_cells in enumerate(cells):
            for g, cell in enumerate(ring_cells):
                if len(cell) > SLOTS_PER_GROUP:
                    raise ValueError(f"rings[{r}]: SUMO's NEMA controller runs at most {SLOTS_PER_GROUP} phases "
                                     f"of a ring in a barrier group, ring {r + 1} has {cell} in group {g + 1}")
                if cell != [p for p in plan.rings[r] if p in cell] or not _consecutive(plan.rings[r], cell):
                    raise ValueError(f"rings[{r}]: phases {cell} of barrier group {g + 1} are not consecutive")
        while len(cells) < SUMO_RINGS:
            cells.append([[] for _ in range(SUMO_GROUPS)])
        for g in range(SUMO_GROUPS):
            if not cells[0][g] and not cells[1][g]:
                raise ValueError(f"barriers[{g}]: no ring has a phase in this group")
        return cls(cells, group_index)

    def group_of(self, phase: int, where: str) -> int:
        if phase not in self._group:
            raise ValueError(f"{where}: phase {phase} is not in any barrier group")
        return self._group[phase]

    def ring_group(self, ring: int, group: int) -> list[int]:
        """Ring `ring`'s phases in `group`; a ring resting through the group repeats the other ring's."""
        return self.cells[ring][group] or self.cells[1 - ring][group]

    def own(self, ring: int, group: int) -> list[int]:
        return self.cells[ring][group]


def _consecutive(ring: Sequence[int], cell: Sequence[int]) -> bool:
    if not cell:
        return True
    at = [ring.index(p) for p in cell]
    return at == list(range(at[0], at[0] + len(cell)))


def slots(phases: Sequence[int]) -> list[int]:
    """A ring's part of a group in SUMO's two slots (an empty first slot is 0)."""
    return [0] * (SLOTS_PER_GROUP - len(phases)) + list(phases)


def coordinated_per_ring(pat: Pattern, layout: RingLayout, group: int, where: str) -> list[int]:
    """SUMO's `coordinatePhases`: each ring's coordinated phase (a ring resting through the coordinated group
    repeats the other's); refuses what SUMO cannot coordinate, naming `where` (the pattern's coord_phases)."""
    for p in pat.coord_phases:
        if layout.group_of(p, where) != group:
            raise ValueError(f"{where}: the coordinated phases must share one barrier group, found "
                             f"{list(pat.coord_phases)}")
    own: list[int | None] = []
    for r in range(SUMO_RINGS):
        mine = [p for p in pat.coord_phases if p in layout.own(r, group)]
        if len(mine) > 1:
            raise ValueError(f"{where}: one coordinated phase per ring, ring {r + 1} has {mine}")
        if not mine and layout.own(r, group):
            raise ValueError(f"{where}: ring {r + 1} has phases in the coordinated group but no coordinated phase")
        if mine and layout.own(r, group)[-1] != mine[0]:
            raise ValueError(f"{where}: phase {layout.own(r, group)[-1]} follows coordinated phase {mine[0]} in ring "
                             f"{r + 1}; SUMO's NEMA controller ends a coordinated phase only at the barrier, together "
                             "with the other ring's, so it cannot run a lagging phase after it (run lead-lag free)")
        own.append(mine[0] if mine else None)
    # A ring resting through the coordinated group repeats the other ring's phases, coordinated phase included.
    return [p if p is not None else _other(own, r) for r, p in enumerate(own)]


def _other(own: list[int | None], ring: int) -> int:
    other = own[1 - ring]
    assert other is not None     # a group where neither ring has a phase was refused by RingLayout
    return other
