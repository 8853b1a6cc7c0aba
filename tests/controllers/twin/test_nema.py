"""`nema_tl_logic`: what the SUMO NEMA tlLogic says for a plan, and what it refuses (without running SUMO; the
round trip through a real SUMO is in test_nema_roundtrip.py)."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from controllers.plans.model import PlanV1
from controllers.twin.nema import nema_tl_logic

EXAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "plans" / "examples"
EIGHT = {p: [p - 1] for p in range(1, 9)}        # phase p turns link p - 1 green


def doc(name: str = "tn-001-weekday.json") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def tl(plan_doc: dict[str, Any], pattern: int | None, links: dict[int, list[int]] | None = None,
       **kw: Any) -> ET.Element:
    links = links if links is not None else EIGHT
    kw.setdefault("phase_detectors", {})
    xml = nema_tl_logic(PlanV1.model_validate(plan_doc), pattern=pattern, tls_id="J1", phase_links=links,
                        link_count=max(i for v in links.values() for i in v) + 1, **kw)
    root = ET.fromstring(xml.encode())
    assert root.tag == "additional"
    logic = root.find("tlLogic")
    assert logic is not None
    return logic


def params(logic: ET.Element) -> dict[str, str]:
    return {str(p.get("key")): str(p.get("value")) for p in logic.iter("param")}


def phases(logic: ET.Element) -> dict[int, dict[str, str]]:
    return {int(str(p.get("name"))): dict(p.attrib) for p in logic.iter("phase")}


def test_coordinated_pattern_gives_splits_as_max_green_and_the_offset_in_simulation_time() -> None:
    logic = tl(doc(), 2, time_of_day_at_start_s=7 * 3600 + 13.7)
    assert logic.get("id") == "J1" and logic.get("type") == "NEMA"
    # (35 − 25 213.7) mod 90 = 21.3: SUMO counts the offset from simulation time 0, the plan from midnight.
    assert logic.get("offset") == "21.3"
    got = params(logic)
    assert got["coordinate-mode"] == "true" and got["fixForceOff"] == "true" and got["controllerType"] == "TS2"
    assert got["total-cycle-length"] == "90"
    assert (got["ring1"], got["ring2"]) == ("1,2,3,4", "5,6,7,8")
    assert (got["coordinatePhases"], got["barrierPhases"]) == ("2,6", "4,8")
    assert got["minRecall"] == "2,6" and got["maxRecall"] == ""
    ph = phases(logic)
    # split 12 − yellow 3.5 − red 2.5 = 6; phase 3: 12 − 3 − 2.6 = 6.4.
    assert ph[1]["maxDur"] == "6" and ph[3]["maxDur"] == "6.4" and ph[2]["maxDur"] == "26"
    assert (ph[1]["yellow"], ph[1]["red"], ph[1]["vehext"], ph[1]["minDur"]) == ("3.5", "2.5", "2", "5")
    # phase 2 serves its walk every cycle: the green lasts at least walk 7 + clearance 14; 4 is push-button.
    assert ph[2]["minDur"] == "21" and ph[4]["minDur"] == "8"
    assert ph[5]["state"] == "rrrrGrrr"


def test_free_runs_the_max_greens_without_coordination() -> None:
    logic = tl(doc(), None, time_of_day_at_start_s=5000)
    got = params(logic)
    assert got["coordinate-mode"] == "false" and got["fixForceOff"] == "false"
    assert logic.get("offset") == "0"
    ph = phases(logic)
    assert ph[1]["maxDur"] == "6" and ph[2]["maxDur"] == "26" and ph[4]["maxDur"] == "28"


def test_t_junction_repeats_the_side_street_phase_in_the_resting_ring() -> None:
    links = {1: [0], 2: [1], 4: [2], 6: [3]}
    got = params(tl(doc("tn-014-t-junction.json"), 1, links))
    assert (got["ring1"], got["ring2"]) == ("1,2,0,4", "0,6,0,4")
    assert (got["coordinatePhases"], got["barrierPhases"]) == ("2,6", "4,4")


def test_coordinated_group_comes_first_whatever_the_plan_lists_first() -> None:
    d = doc()
    d["barriers"] = [[3, 4, 7, 8], [1, 2, 5, 6]]
    got = params(tl(d, 1))
    assert (got["ring1"], got["ring2"], got["coordinatePhases"]) == ("1,2,3,4", "5,6,7,8", "2,6")
    free = params(tl(d, None))
    assert (free["ring1"], free["coordinatePhases"], free["barrierPhases"]) == ("3,4,1,2", "4,8", "2,6")


def test_detectors_are_bound_through_their_lanes_and_links_get_permissive_green() -> None:
    logic = tl(doc(), 1, phase_detectors={2: ["d2a", "d2b"], 5: ["d5"]},
               detector_lanes={"d2a": "W_in_0", "d2b": "W_in_1", "d5": "W_in_2"},
               permissive_links={6: [0]})
    got = params(logic)
    assert (got["W_in_0"], got["W_in_1"], got["W_in_2"]) == ("d2a", "d2b", "d5")
    assert phases(logic)[6]["state"] == "grrrrGrr"


def bad(plan_doc: dict[str, Any], pattern: int | None = 1, **kw: Any) -> str:
    with pytest.raises(ValueError) as err:
        tl(plan_doc, pattern, **kw)
    return str(err.value)


def test_refuses_what_sumo_cannot_express_naming_the_field() -> None:
    d = doc()
    d["phases"][7]["phase"] = 9
    d["rings"][1][3] = 9
    d["barriers"][1][3] = 9
    d["patterns"][0]["splits_s"]["9"] = d["patterns"][0]["splits_s"].pop("8")
    d["patterns"][1]["splits_s"]["9"] = d["patterns"][1]["splits_s"].pop("8")
    assert bad(d).startswith("phases[7].phase: SUMO's NEMA controller numbers phases 1–8")

    one_group = doc()
    one_group["barriers"] = [[1, 2, 3, 4, 5, 6, 7, 8]]
    assert bad(one_group).startswith("barriers: SUMO's NEMA controller has 2 barrier groups")

    three = doc()
    three["rings"] = [[1, 2, 3, 4], [5, 6], [7, 8]]
    assert bad(three).startswith("rings: SUMO's NEMA controller has 2 rings")

    crowded = doc()
    crowded["rings"] = [[1, 2, 5, 3, 4], [6, 7, 8]]
    assert bad(crowded).startswith("rings[0]: SUMO's NEMA controller runs at most 2 phases")

    assert bad(doc(), 7).startswith("pattern: the plan has no pattern 7")

    short = doc()
    short["patterns"][0]["splits_s"]["3"] = 10
    assert bad(short).startswith("patterns[0].splits_s.3: split 10 s leaves 4.4 s of green")


def test_refuses_bad_wiring_naming_the_argument() -> None:
    assert bad(doc(), links={**EIGHT, 9: [1]}).startswith("phase_links: phase 9 is not in the plan")
    assert bad(doc(), links={**EIGHT, 3: []}).startswith("phase_links: phase 3 gives no link a major green")
    with pytest.raises(ValueError, match=r"phase_links\[1\]: link index 8 outside 0…7"):
        nema_tl_logic(PlanV1.model_validate(doc()), pattern=1, tls_id="J", phase_links={**EIGHT, 1: [8]},
                      link_count=8, phase_detectors={})
    assert bad(doc(), phase_detectors={2: ["d2"]}).startswith(
        "phase_detectors[2]: detector 'd2' has no lane in detector_lanes")
    assert bad(doc(), phase_detectors={2: ["a"], 6: ["b"]}, detector_lanes={"a": "L", "b": "L"}).startswith(
        "detector_lanes: lane 'L' has two detectors")


def test_ids_are_escaped() -> None:
    d = copy.deepcopy(doc())
    xml = nema_tl_logic(PlanV1.model_validate(d), pattern=None, tls_id='a"<b', phase_links=EIGHT, link_count=8,
                        phase_detectors={})
    logic = ET.fromstring(xml.encode()).find("tlLogic")
    assert logic is not None and logic.get("id") == 'a"<b'


def test_refuses_a_lagging_phase_after_a_coordinated_one() -> None:
    lead_lag = doc()
    lead_lag["rings"] = [[1, 2, 3, 4], [6, 5, 7, 8]]
    assert bad(lead_lag).startswith("patterns[0].coord_phases: phase 5 follows coordinated phase 6 in ring 2")
    assert params(tl(lead_lag, None))["coordinatePhases"] == "2,5"      # free: the phases ending at the barrier


def test_refuses_hostile_ids_and_sizes() -> None:
    plan = PlanV1.model_validate(doc())
    for kw, message in (
        ({"tls_id": "a b"}, "tls_id: 'a b' is not a SUMO id"),
        ({"tls_id": "x\x00"}, "tls_id: 'x\\x00' is not a SUMO id"),
        ({"tls_id": "x" * 129}, "tls_id: "),
        ({"phase_detectors": {2: ["d 2"]}, "detector_lanes": {"d 2": "L"}}, "phase_detectors[2]: 'd 2'"),
        ({"link_count": 10**9}, "link_count: a traffic light controls 1…1024 links"),
        ({"phase_detectors": {2: [f"d{i}" for i in range(300)]}}, "phase_detectors: more than 256 detectors"),
        ({"time_of_day_at_start_s": float("nan")}, "time_of_day_at_start_s: a finite number"),
    ):
        args: dict[str, Any] = {"tls_id": "J", "phase_links": EIGHT, "link_count": 8, "phase_detectors": {}, **kw}
        with pytest.raises(ValueError) as err:
            nema_tl_logic(plan, pattern=1, **args)
        assert str(err.value).startswith(message), err.value
