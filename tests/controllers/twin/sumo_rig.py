"""A real SUMO on a small hand-built junction, driven by detector calls, and our firmware sequencer driven by the
same calls: the two sides of the NEMA round-trip test.

The junction is written as plain XML (nodes, edges, connections) and built with netconvert; every approach lane
has one lane-area detector at the stop line. SUMO is driven over TraCI only to set detector occupancy
(`lanearea.overrideVehicleNumber`, at the instants the calls change); the signal states come from SUMO's own
`SaveTLSStates` output, one line per simulation step. Both sides run 0.1 s steps: the occupancy at time t is what
the step from t to t + 0.1 sees, and a state stamped t + 0.1 is the state after that step.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controllers.plans.model import PlanV1
from controllers.twin.nema import nema_tl_logic
from firmware_sim.plan import parse_plan
from firmware_sim.sequencer import Sequencer

STEP_S = 0.1
TLS = "C"
LEG_XY = {"N": (0, 150), "E": (150, 0), "S": (0, -150), "W": (-150, 0)}
# Driving on the right: from a leg, where each movement goes.
TURNS = {"N": {"left": "E", "through": "S", "right": "W"},
         "S": {"left": "W", "through": "N", "right": "E"},
         "E": {"left": "S", "through": "W", "right": "N"},
         "W": {"left": "N", "through": "E", "right": "S"}}


@dataclass(frozen=True)
class LaneSpec:
    movements: tuple[str, ...]
    phase: int                  # the NEMA phase giving this lane its (protected) green; its detector calls it


Approaches = Mapping[str, Sequence[LaneSpec]]     # leg → lanes from the curb (SUMO lane 0) to the median

# The standard 8-phase junction: main street E–W (2 eastbound from W, 6 westbound from E, lefts 5 and 1),
# side street N–S (4 southbound from N, 8 northbound from S, lefts 7 and 3); a left lane and a through-right lane.
FOUR_LEG: Approaches = {
    "W": (LaneSpec(("through", "right"), 2), LaneSpec(("left",), 5)),
    "E": (LaneSpec(("through", "right"), 6), LaneSpec(("left",), 1)),
    "N": (LaneSpec(("through", "right"), 4), LaneSpec(("left",), 7)),
    "S": (LaneSpec(("through", "right"), 8), LaneSpec(("left",), 3)),
}
# The T-junction of tn-014: no north leg; 2 eastbound (through, right into S), 6 westbound through with its
# protected leading left 1 (into S), side street 4 from S (left and right).
T_JUNCTION: Approaches = {
    "W": (LaneSpec(("through", "right"), 2),),
    "E": (LaneSpec(("through",), 6), LaneSpec(("left",), 1)),
    "S": (LaneSpec(("right", "left"), 4),),
}


@dataclass(frozen=True)
class Calls:
    """Detector occupancy over time: `always` phases are occupied throughout; `pulses` (phase, from_s, to_s) are
    occupied for [from, to)."""

    always: frozenset[int] = frozenset()
    pulses: tuple[tuple[int, float, float], ...] = ()

    def at(self, t: float) -> set[int]:
        occupied = set(self.always)
        occupied |= {p for p, a, b in self.pulses if a - 1e-9 <= t < b - 1e-9}
        return occupied

    def changes(self) -> list[float]:
        return sorted({t for _, a, b in self.pulses for t in (a, b)})


Interval = tuple[float, float, str]      # (from_s, to_s, "g" | "y" | "r")


def sumo_home() -> Path:
    """SUMO from the `eclipse-sumo` wheel (the project's `twin` extra)."""
    try:
        sumo = importlib.import_module("sumo")
    except ImportError:
        pytest.fail("SUMO is not installed: the twin extra (eclipse-sumo) is part of `make setup`", pytrace=False)
    return Path(sumo.SUMO_HOME)


def _traci() -> Any:
    tools = str(sumo_home() / "tools")
    if tools not in sys.path:
        sys.path.append(tools)
    return importlib.import_module("traci")


def build_junction(workdir: Path, approaches: Approaches) -> dict[tuple[str, int], list[int]]:
    """Write and netconvert the junction; (incoming edge, lane index) → its link indexes at the traffic light."""
    nodes = ['<nodes>', f'  <node id="{TLS}" x="0" y="0" type="traffic_light"/>']
    edges, cons = ["<edges>"], ["<connections>"]
    legs = set(approaches) | {TURNS[leg][m] for leg, lanes in approaches.items() for lane in lanes
                              for m in lane.movements}
    for leg in sorted(legs):
        x, y = LEG_XY[leg]
        nodes.append(f'  <node id="{leg}" x="{x}" y="{y}" type="priority"/>')
        edges.append(f'  <edge id="{leg}_out" from="{TLS}" to="{leg}" numLanes="1" speed="13.89"/>')
    for leg, lanes in sorted(approaches.items()):
        edges.append(f'  <edge id="{leg}_in" from="{leg}" to="{TLS}" numLanes="{len(lanes)}" speed="13.89"/>')
        for i, lane in enumerate(lanes):
            for m in lane.movements:
                cons.append(f'  <connection from="{leg}_in" to="{TURNS[leg][m]}_out" fromLane="{i}" toLane="0"/>')
    for name, lines in (("j.nod.xml", [*nodes, "</nodes>"]), ("j.edg.xml", [*edges, "</edges>"]),
                        ("j.con.xml", [*cons, "</connections>"])):
        (workdir / name).write_text("\n".join(lines), encoding="utf-8")
    subprocess.run([str(sumo_home() / "bin" / "netconvert"), "-n", "j.nod.xml", "-e", "j.edg.xml", "-x", "j.con.xml",
                    "-o", "j.net.xml", "--no-turnarounds", "--no-internal-links", "false"],
                   cwd=workdir, check=True, capture_output=True, timeout=60)
    links: dict[tuple[str, int], list[int]] = {}
    for c in ET.parse(workdir / "j.net.xml").getroot().iter("connection"):
        if c.get("tl") == TLS:
            links.setdefault((str(c.get("from")), int(str(c.get("fromLane")))), []).append(int(str(c.get("linkIndex"))))
    return links


def nema_inputs(approaches: Approaches, links: Mapping[tuple[str, int], list[int]]) -> dict[str, Any]:
    """The wiring arguments of `nema_tl_logic` for the junction: phase links, detectors and their lanes."""
    phase_links: dict[int, list[int]] = {}
    phase_detectors: dict[int, list[str]] = {}
    detector_lanes: dict[str, str] = {}
    for leg, lanes in approaches.items():
        for i, lane in enumerate(lanes):
            phase_links.setdefault(lane.phase, []).extend(links[(f"{leg}_in", i)])
            det = f"det_{leg}_{i}"
            phase_detectors.setdefault(lane.phase, []).append(det)
            detector_lanes[det] = f"{leg}_in_{i}"
    return {"phase_links": phase_links, "link_count": sum(len(v) for v in links.values()),
            "phase_detectors": phase_detectors, "detector_lanes": detector_lanes}


def run_sumo(workdir: Path, plan: PlanV1, pattern: int | None, approaches: Approaches, calls: Calls,
             end_s: float, *, time_of_day_at_start_s: float = 0.0,
             edit: Callable[[str], str] | None = None) -> dict[int, list[Interval]]:
    """Run the plan in SUMO for `end_s` seconds under `calls`; each phase's signal intervals."""
    links = build_junction(workdir, approaches)
    wiring = nema_inputs(approaches, links)
    xml = nema_tl_logic(plan, pattern=pattern, tls_id=TLS, time_of_day_at_start_s=time_of_day_at_start_s,
                        **wiring)
    (workdir / "tls.add.xml").write_text(edit(xml) if edit else xml, encoding="utf-8")
    dets = ["<additional>"]
    for det, lane in wiring["detector_lanes"].items():
        dets.append(f'  <laneAreaDetector id="{det}" lane="{lane}" endPos="-0.1" length="10" period="3600" '
                    'file="NUL"/>')
    dets.append(f'  <timedEvent type="SaveTLSStates" source="{TLS}" dest="{workdir / "states.xml"}"/>')
    (workdir / "det.add.xml").write_text("\n".join([*dets, "</additional>"]), encoding="utf-8")
    traci = _traci()
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([str(sumo_home() / "bin" / "sumo"), "-n", str(workdir / "j.net.xml"),
                             "-a", f"{workdir / 'det.add.xml'},{workdir / 'tls.add.xml'}",
                             "--step-length", str(STEP_S), "--end", str(end_s), "--no-step-log", "true",
                             "--duration-log.disable", "true", "--remote-port", str(port)],
                            stdout=subprocess.DEVNULL)
    with contextlib.redirect_stdout(io.StringIO()):     # traci prints each retry while SUMO starts
        conn = traci.connect(port, numRetries=200, proc=proc, waitBetweenRetries=0.05)
    try:
        by_phase = wiring["phase_detectors"]
        occupied: set[int] = set()
        for t in [0.0, *calls.changes()]:
            if t >= end_s:
                break
            if t > 0:
                conn.simulationStep(t)
            now = calls.at(t)
            for p in now ^ occupied:
                for det in by_phase.get(p, ()):
                    conn.lanearea.overrideVehicleNumber(det, 1 if p in now else -1)
            occupied = now
        conn.simulationStep(end_s)
    finally:
        conn.close()
    return _sumo_intervals(workdir / "states.xml", wiring["phase_links"], end_s)


def _sumo_intervals(states: Path, phase_links: Mapping[int, Sequence[int]], end_s: float) -> dict[int, list[Interval]]:
    rows = [(float(str(e.get("time"))), str(e.get("state"))) for e in ET.parse(states).getroot().iter("tlsState")]
    out: dict[int, list[Interval]] = {}
    for p, idx in phase_links.items():
        out[p] = _intervals(((t + STEP_S, s[idx[0]].lower()) for t, s in rows), end_s)
    return out


def _intervals(samples: Iterable[tuple[float, str]], end_s: float) -> list[Interval]:
    out: list[Interval] = []
    for t, c in samples:
        t = round(t, 1)
        if out and out[-1][2] == c:
            continue
        if out:
            out[-1] = (out[-1][0], t, out[-1][2])
        out.append((t, end_s, c))
    return out


def run_firmware(plan_doc: dict[str, Any], pattern: int | None, calls: Calls, end_s: float, *,
                 time_of_day_at_start_s: float = 0.0, preroll_s: float = 0.0) -> dict[int, list[Interval]]:
    """Our controller's sequencer on the same plan and calls; ticks of 0.1 s, time 0 at local time of day
    `time_of_day_at_start_s`. It starts `preroll_s` earlier (under the calls of time 0), so that it has stepped
    into the master cycle by time 0 (our controller enters coordination with a transition of a few cycles,
    SUMO's enters in step). Recalls as the controller sets them (`SignalController._main_phases`)."""
    plan = parse_plan(plan_doc)
    first = min(plan.patterns.values(), key=lambda p: p.pattern, default=None)
    recall = first.coord_phases if first else tuple(ring[0] for ring in plan.rings if ring)
    seq = Sequencer(plan, lambda code, param: None, recall=frozenset(recall))
    seq.set_pattern(plan.patterns[pattern] if pattern is not None else None)
    seq.restart()
    start = round(time_of_day_at_start_s * 10)
    samples: dict[int, list[tuple[float, str]]] = {p: [] for p in plan.phases}
    for k in range(-round(preroll_s / STEP_S), round(end_s / STEP_S)):
        seq.step(start + k, calls.at(max(k, 0) * STEP_S), set())
        o = seq.outputs()
        for p in plan.phases:
            bit = 1 << (p - 1)
            samples[p].append(((k + 1) * STEP_S, "g" if o.green & bit else "y" if o.yellow & bit else "r"))
    return {p: _intervals(s, end_s) for p, s in samples.items()}


def after(intervals: Mapping[int, list[Interval]], from_s: float, to_s: float) -> dict[int, list[Interval]]:
    """The intervals that start in [from_s, to_s) (start-up and the cut-off last interval left out)."""
    return {p: [iv for iv in ivs if from_s <= iv[0] < to_s and iv[1] < to_s] for p, ivs in intervals.items()}
