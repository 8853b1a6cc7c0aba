"""A `signalight.plan/v1` plan as SUMO's NEMA dual-ring controller: a `<tlLogic type="NEMA">` additional file.

Pure: no I/O. `nema_tl_logic` takes the plan, the pattern to run (None: free) and how the SUMO network wires the
intersection (which links each NEMA phase turns green, which detectors call it) and returns the XML document.

Translation (SUMO 1.28, `src/microsim/traffic_lights/NEMAController.cpp`, controllerType TS2):
- rings: SUMO has two rings of four slots, two slots on each side of its one barrier pair. Our barrier groups
  become SUMO's two sides, the coordinated group first (SUMO's side 0); the cycle is circular, so which group is
  written first changes no sequence. A ring with one phase in a group leaves the first slot 0. A ring with no
  phase in a group (a T-junction) repeats the other ring's phases there, SUMO's documented notation for a ring
  that rests: both copies time the same phase with the same detectors. A single-ring plan is written as both
  rings (each phase written twice).
- barriers: `barrierPhases` are the phases that end at the barrier on the non-coordinated side (the last phase of
  each ring in that group), `coordinatePhases` the coordinated phases (free: the last phase of each ring in the
  first group, which SUMO needs as the other barrier).
- free (`pattern=None`): `coordinate-mode` false, `fixForceOff` false, maxDur = the plan's max green.
- coordinated: `coordinate-mode` true, `fixForceOff` true (our controller's force-offs are fixed points of the
  cycle: a phase started early may use the time up to its force-off), `total-cycle-length` the cycle, and per
  phase maxDur = split − yellow − red clearance (SUMO lays out its force-offs from maxDur + yellow + red, so the
  force-off of every phase falls where ours does).
- offset: SUMO TS2 references the offset, like the plan format, to the green start of the coordinated phase that
  turns green first, and counts it from simulation time 0 (`(t − offset) mod cycle`); the plan counts it from
  local midnight. SUMO's offset is therefore (offset − the local time of day at simulation time 0) mod cycle.
- min green: the plan's min green; where the walk is served every cycle (`ped_actuated: false`) the vehicle green
  cannot end before walk + pedestrian clearance, so minDur is the longer of the two. passage → vehext, yellow,
  red clearance → red.
- recalls: our controller places a min recall on the main street, the coordinated phases of the plan's
  lowest-numbered pattern (the first phase of each ring when the plan has no pattern); SUMO gets the same
  `minRecall` (its default would recall every phase), no max recall. Coordinated phases are always called in
  coordination, in both controllers.
- detectors: SUMO binds a detector to the phase that gives its lane a major green, through a parameter keyed by
  the lane id. A lane that no listed detector lies on gets SUMO's own 20 m stop-bar detector. Our controller
  keeps a call placed while its phase is not green until the phase is served (locking memory), so every phase's
  detectors are `latchingDetectors` (SUMO's default forgets a call when the vehicle leaves the detector); a green
  is extended only while its detector is occupied, in both.
- permissive movements (a left turn that yields, served by a through phase) get `g` on their links.

Refused (ValueError naming the plan field), because SUMO's NEMA controller cannot express it: phases numbered
above 8, more than two rings, other than two barrier groups, more than two phases of a ring in one group,
a coordinated phase followed by another phase of its ring in the coordinated group (a lagging left in a
lead-lag pattern: SUMO ends a coordinated phase only at the barrier, with the other ring's), a coordinated
pattern whose split leaves less than the min green.

Approximations, for the README's "what the twin does not model":
- pedestrians: actuated walks (push-button) are not modelled; a walk on recall only lengthens the min green.
- the twin holds one pattern (or free) for the whole run: no time-of-day changes, no transition between
  patterns, no local-midnight resynchronisation; preemption, flash and manual control are not modelled.
- SUMO reads the timings to its simulation step: run it with a step that divides them (0.1 s) for exact
  clearances; with 1 s steps every interval is rounded to whole seconds.
- lanes without a detector get SUMO's 20 m stop-bar detector (above); in free operation SUMO warns that the
  barrier groups' max greens do not add up (harmless: it checks that only for coordination).

Where SUMO's NEMA controller (1.28, TS2) and ours differ for the same plan and calls, found by the round trip
(tests/controllers/twin/test_nema_roundtrip.py agrees within one 0.1 s step, clearances exact, outside these;
test_nema_differences.py pins the first three):
1. backward call within a barrier group: ours follows the ring order, so a call on a phase before the running
   one (a left 1 while 2 runs, or a lagging left's ring returning to its through) is reached by crossing the
   barrier: both rings end their greens (the other ring's through loses its yellow + red clearance) and come
   back. SUMO steps back within the group and the other ring stays green. Not convertible.
2. only one ring called in a barrier group: ours runs that phase alone (the other ring rests in red); SUMO
   also serves the other ring's barrier phase, uncalled, for its min green, and holds the called phase green
   as long. Not convertible.
3. coordination, the next phase not called: ours ends the coordinated phases at their force-off and gives the
   skipped phase's time to the next called one; SUMO holds the coordinated green until the skipped phase could
   no longer fit its min green (its force-off − min green − the coordinated phase's yellow + red). Not
   convertible.
4. passage: ours gaps out one 0.1 s tick before SUMO (it counts the last occupied tick as the first of the
   passage time); within a step, not converted.
5. max green of a main-street (recall) phase resting in green: ours times it from the first conflicting call;
   SUMO counts down while any phase other than the two running ones is called, which includes a call on the
   other ring's phase of the same group (a lagging left), so SUMO maxes out earlier then.
6. a lagging left that gaps out while the other ring's through still extends: ours holds it green until both
   rings cross together; SUMO ends it and either returns its ring to the through within the group (item 1) or,
   with a side-street call waiting, waits in red for the crossing.
7. lagging phase after a coordinated phase (lead-lag in coordination): SUMO ends a coordinated phase only with
   the other ring's, at the barrier, so the lagging phase never runs, and its TS2 offset reference then falls
   on the other ring's coordinated phase: refused (above); lead-lag runs free in the twin.
8. offset reference: the same (TS2: the green start of the first coordinated phase); SUMO counts it from
   simulation time 0, the plan from local midnight: converted (above).
9. call memory: SUMO forgets a call when the vehicle leaves the detector; ours keeps it until served:
   converted (`latchingDetectors`).
10. start-up: SUMO enters coordination in step at once (the phases its cycle timer points at); ours enters
    with a transition of a few cycles. Free, SUMO starts in the first phase of each ring (1 + 5, called or
    not), ours on the main street. Compare after the first cycles.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import quoteattr

from controllers.plans.model import Pattern, PlanV1
from controllers.twin.nema_layout import SUMO_RINGS, RingLayout, coordinated_per_ring, slots

MAX_LINKS = 1024          # links of one traffic light (a large junction has ~ 60)
MAX_DETECTORS = 256
_ID = re.compile(r"[^\s\x00-\x1f\x7f]{1,128}")

def nema_tl_logic(plan: PlanV1, *, pattern: int | None, tls_id: str,
                  phase_links: Mapping[int, Sequence[int]],
                  link_count: int,
                  phase_detectors: Mapping[int, Sequence[str]],
                  detector_lanes: Mapping[str, str] | None = None,
                  permissive_links: Mapping[int, Sequence[int]] | None = None,
                  time_of_day_at_start_s: float = 0.0,
                  program_id: str = "signalight") -> str:
    """The `<additional>` document holding the plan's NEMA `tlLogic` for traffic light `tls_id`.

    `phase_links`: NEMA phase → SUMO link indexes (0 … link_count − 1) it gives a major green `G`;
    `permissive_links`: phase → link indexes it gives a yielding green `g` (a permissive left);
    `phase_detectors`: phase → lane-area detector ids that call it, each lying on the lane named in
    `detector_lanes` (detector id → SUMO lane id; SUMO binds detectors to phases by lane);
    `time_of_day_at_start_s`: the local time of day (s after midnight) at simulation time 0, which SUMO's
    offset is counted from. Raises ValueError naming the field SUMO cannot express."""
    _check_ids(tls_id, program_id, phase_detectors, detector_lanes or {})
    if not math.isfinite(time_of_day_at_start_s):
        raise ValueError(f"time_of_day_at_start_s: a finite number of seconds, found {time_of_day_at_start_s}")
    layout = RingLayout.of(plan)
    pat = _pattern(plan, pattern)
    numbers = sorted(p.phase for p in plan.phases)
    states = _states(numbers, phase_links, permissive_links or {}, link_count)
    detector_params = _detector_params(numbers, phase_detectors, detector_lanes or {})
    first = 0
    if pat is not None:
        first = layout.group_of(pat.coord_phases[0], f"patterns[{_index(plan, pat)}].coord_phases")
    order = [first, 1 - first]
    rings = [[slot for g in order for slot in slots(layout.ring_group(r, g))] for r in range(SUMO_RINGS)]
    barrier_side = [layout.ring_group(r, order[1])[-1] for r in range(SUMO_RINGS)]
    if pat is None:
        coordinated = [layout.ring_group(r, order[0])[-1] for r in range(SUMO_RINGS)]
    else:
        coordinated = coordinated_per_ring(pat, layout, order[0], f"patterns[{_index(plan, pat)}].coord_phases")
    timings = _timings(plan, pat)
    recall = _min_recall(plan)
    cycle = pat.cycle_s if pat is not None else _free_cycle(timings, rings)
    offset = 0.0 if pat is None else (pat.offset_s - time_of_day_at_start_s) % pat.cycle_s
    params = [
        ("controllerType", "TS2"),
        ("total-cycle-length", _num(cycle)),
        ("ring1", ",".join(str(p) for p in rings[0])),
        ("ring2", ",".join(str(p) for p in rings[1])),
        ("barrierPhases", ",".join(str(p) for p in barrier_side)),
        ("coordinatePhases", ",".join(str(p) for p in coordinated)),
        ("coordinate-mode", "true" if pat is not None else "false"),
        ("fixForceOff", "true" if pat is not None else "false"),
        ("minRecall", ",".join(str(p) for p in sorted(recall))),
        ("maxRecall", ""),
        ("latchingDetectors", ",".join(str(p) for p in numbers)),
        *detector_params,
    ]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<additional>",
             f"    <tlLogic id={quoteattr(tls_id)} programID={quoteattr(program_id)} type=\"NEMA\" "
             f"offset=\"{_num(offset)}\">"]
    lines += [f"        <param key={quoteattr(k)} value={quoteattr(v)}/>" for k, v in params]
    for n in numbers:
        t = timings[n]
        lines.append(
            f'        <phase duration="99" minDur="{_num(t.min_dur)}" maxDur="{_num(t.max_dur)}" '
            f'vehext="{_num(t.vehext)}" yellow="{_num(t.yellow)}" red="{_num(t.red)}" name="{n}" '
            f'state="{states[n]}"/>')
    lines += ["    </tlLogic>", "</additional>", ""]
    return "\n".join(lines)


def _check_ids(tls_id: str, program_id: str, phase_detectors: Mapping[int, Sequence[str]],
               detector_lanes: Mapping[str, str]) -> None:
    """SUMO ids: 1–128 characters, no whitespace or control characters (they would not survive SUMO's reader);
    at most MAX_DETECTORS detectors."""
    if sum(len(dets) for dets in phase_detectors.values()) > MAX_DETECTORS:
        raise ValueError(f"phase_detectors: more than {MAX_DETECTORS} detectors")
    if len(detector_lanes) > MAX_DETECTORS:
        raise ValueError(f"detector_lanes: more than {MAX_DETECTORS} detectors")
    named = [("tls_id", tls_id), ("program_id", program_id)]
    named += [(f"phase_detectors[{p}]", d) for p, dets in phase_detectors.items() for d in dets]
    named += [("detector_lanes", x) for pair in detector_lanes.items() for x in pair]
    for where, value in named:
        if not _ID.fullmatch(value):
            raise ValueError(f"{where}: {value[:40]!r} is not a SUMO id (1–128 characters, no spaces or "
                             "control characters)")


class _Timing:
    __slots__ = ("max_dur", "min_dur", "red", "vehext", "yellow")

    def __init__(self, min_dur: float, max_dur: float, vehext: float, yellow: float, red: float) -> None:
        self.min_dur, self.max_dur, self.vehext, self.yellow, self.red = min_dur, max_dur, vehext, yellow, red


def _index(plan: PlanV1, pat: Pattern) -> int:
    return next(i for i, p in enumerate(plan.patterns) if p.pattern == pat.pattern)


def _pattern(plan: PlanV1, number: int | None) -> Pattern | None:
    if number is None:
        return None
    pat = next((p for p in plan.patterns if p.pattern == number), None)
    if pat is None:
        raise ValueError(f"pattern: the plan has no pattern {number} "
                         f"(it has {sorted(p.pattern for p in plan.patterns)})")
    return pat


def _timings(plan: PlanV1, pat: Pattern | None) -> dict[int, _Timing]:
    out: dict[int, _Timing] = {}
    for i, ph in enumerate(plan.phases):
        min_dur = ph.min_green_s
        if not ph.ped_actuated and ph.walk_s is not None and ph.ped_clear_s is not None:
            min_dur = max(min_dur, ph.walk_s + ph.ped_clear_s)   # the walk on recall holds the green
        if pat is None:
            max_dur = ph.max_green_s
        else:
            split = pat.split_of(ph.phase)
            where = f"patterns[{_index(plan, pat)}].splits_s.{ph.phase}"
            if split is None:
                raise ValueError(f"{where}: no split for phase {ph.phase}")
            max_dur = split - ph.yellow_s - ph.red_clear_s
            if max_dur + 1e-9 < ph.min_green_s:
                raise ValueError(f"{where}: split {_num(split)} s leaves {_num(max_dur)} s of green, less than the "
                                 f"min green {_num(ph.min_green_s)} s")
        if max_dur + 1e-9 < min_dur and pat is None:
            raise ValueError(f"phases[{i}].max_green_s: {_num(max_dur)} s is less than the min green "
                             f"{_num(min_dur)} s")
        out[ph.phase] = _Timing(min_dur, max(max_dur, 0.0), ph.passage_s, ph.yellow_s, ph.red_clear_s)
    return out


def _min_recall(plan: PlanV1) -> set[int]:
    """The main street, as our controller recalls it: the lowest-numbered pattern's coordinated phases, or the
    first phase of each ring when the plan has no pattern."""
    if plan.patterns:
        first = min(plan.patterns, key=lambda p: p.pattern)
        return set(first.coord_phases)
    return {ring[0] for ring in plan.rings if ring}


def _free_cycle(timings: Mapping[int, _Timing], rings: Sequence[Sequence[int]]) -> float:
    """SUMO wants a cycle length even when free; the longest ring at max green (no effect on free timing)."""
    return max(sum(timings[p].max_dur + timings[p].yellow + timings[p].red for p in ring if p) for ring in rings)


def _states(numbers: Sequence[int], phase_links: Mapping[int, Sequence[int]],
            permissive_links: Mapping[int, Sequence[int]], link_count: int) -> dict[int, str]:
    if not 1 <= link_count <= MAX_LINKS:
        raise ValueError(f"link_count: a traffic light controls 1…{MAX_LINKS} links, found {link_count}")
    for name, links in (("phase_links", phase_links), ("permissive_links", permissive_links)):
        for p, idx in links.items():
            if p not in numbers:
                raise ValueError(f"{name}: phase {p} is not in the plan (phases {list(numbers)})")
            for i in idx:
                if not 0 <= i < link_count:
                    raise ValueError(f"{name}[{p}]: link index {i} outside 0…{link_count - 1}")
    states: dict[int, str] = {}
    for p in numbers:
        chars = ["r"] * link_count
        for i in permissive_links.get(p, ()):
            chars[i] = "g"
        for i in phase_links.get(p, ()):
            chars[i] = "G"
        if "G" not in chars:
            raise ValueError(f"phase_links: phase {p} gives no link a major green (SUMO finds a phase's lanes "
                             "and detectors from its G links)")
        states[p] = "".join(chars)
    return states


def _detector_params(numbers: Sequence[int], phase_detectors: Mapping[int, Sequence[str]],
                     detector_lanes: Mapping[str, str]) -> list[tuple[str, str]]:
    params: dict[str, str] = {}
    for p, dets in phase_detectors.items():
        if p not in numbers:
            raise ValueError(f"phase_detectors: phase {p} is not in the plan (phases {list(numbers)})")
        for d in dets:
            lane = detector_lanes.get(d)
            if lane is None:
                raise ValueError(f"phase_detectors[{p}]: detector {d!r} has no lane in detector_lanes (SUMO's NEMA "
                                 "controller binds a detector to a phase through the lane it lies on)")
            if params.get(lane, d) != d:
                raise ValueError(f"detector_lanes: lane {lane!r} has two detectors, {params[lane]!r} and {d!r} "
                                 "(SUMO's NEMA controller reads one detector per lane)")
            params[lane] = d
    return sorted(params.items())


def _num(x: float) -> str:
    """A time in seconds as SUMO reads it (milliseconds are SUMO's resolution)."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
