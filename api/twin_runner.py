"""The plan-preview twin's runner: a `PreviewRequest` → SUMO files → one SUMO run per plan variant and seed →
`PreviewResult`.

Blocking, and slow (seconds to minutes): call it in a worker process (`api.twin_worker`), never on an event loop.
Each run is its own `sumo` process in its own directory under one temporary directory, killed after `timeout_s`;
everything is removed when the preview ends, however it ends.

Errors: `TwinUnavailable` when SUMO is not installed (the message says how to enable it), `TwinError` when the
request cannot be made into a network or a plan into a program, or SUMO fails (the message names the run and says
what SUMO said).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from controllers.plans.model import PlanV1
from controllers.plans.schedule import ScheduleError, scheduled_at
from controllers.twin.demand import build_routes
from controllers.twin.detectors import AREA_FILE, INSTANT_FILE, Detectors, build_detectors
from controllers.twin.links import TlsLinks, tls_links
from controllers.twin.model import PreviewRequest, PreviewResult, VariantFigures
from controllers.twin.nema import nema_tl_logic
from controllers.twin.network import NetworkError, PlainNetwork, build_network
from controllers.twin.outputs import Key, OutputError, RunSetup, aggregate, run_figures

log = logging.getLogger(__name__)

ENABLE_HINT = "pip install 'signalight[twin]' (or uv sync --extra twin)"
TLS_FILE = "tls.xml"
#: A date for a `start_local` without one ("07:00"): a Wednesday, so a weekday's day plan runs.
REFERENCE_DATE = dt.date(2026, 1, 7)
_STDERR_TAIL = 1500
#: Simulation steps tried, longest first (see `step_length`).
STEPS_S = (1.0, 0.5, 0.25, 0.2, 0.1)


class TwinUnavailable(Exception):
    """SUMO is not installed here."""


class TwinError(Exception):
    """The preview could not be run; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Sumo:
    home: Path
    sumo: Path
    netconvert: Path
    version: str


def find_sumo() -> Sumo:
    """SUMO's binaries: the `eclipse-sumo` wheel's, else `sumo` on PATH (with `SUMO_HOME` set). Raises
    TwinUnavailable when neither is there."""
    spec = importlib.util.find_spec("sumo")
    home: Path | None = None
    if spec is not None and spec.submodule_search_locations:
        home = Path(next(iter(spec.submodule_search_locations)))
    elif shutil.which("sumo") and os.environ.get("SUMO_HOME"):
        home = Path(os.environ["SUMO_HOME"])
    sumo, netconvert = (home / "bin" / "sumo", home / "bin" / "netconvert") if home else (None, None)
    if home is None or sumo is None or netconvert is None or not sumo.is_file() or not netconvert.is_file():
        raise TwinUnavailable(f"SUMO is not installed; enable previews with {ENABLE_HINT}")
    try:
        out = subprocess.run([str(sumo), "--version"], capture_output=True, text=True, timeout=30, check=True,
                             env=_env(home))
    except (OSError, subprocess.SubprocessError) as exc:
        raise TwinUnavailable(f"SUMO at {sumo} does not run ({exc}); reinstall it with {ENABLE_HINT}") from exc
    first = out.stdout.splitlines()[0] if out.stdout else "SUMO ?"
    return Sumo(home=home, sumo=sumo, netconvert=netconvert, version=first.rsplit(" ", 1)[-1])


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "SUMO_HOME": str(home)}


def _run(cmd: list[str], cwd: Path, what: str, timeout_s: float, home: Path) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, env=_env(home))
    except subprocess.TimeoutExpired as exc:
        raise TwinError(f"{what}: still running after {timeout_s:g} s, stopped") from exc
    except OSError as exc:
        raise TwinError(f"{what}: could not start {cmd[0]} ({exc})") from exc
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()[-_STDERR_TAIL:]
        raise TwinError(f"{what} failed (exit {done.returncode}): {said}")


def _start(request: PreviewRequest) -> dt.datetime:
    text = request.start_local
    try:
        if "T" in text:
            return dt.datetime.fromisoformat(text)
        return dt.datetime.combine(REFERENCE_DATE, dt.time.fromisoformat(text))
    except ValueError as exc:
        raise TwinError(f"start_local {text!r} is neither HH:MM nor an ISO date and time") from exc


def time_of_day_at_start_s(request: PreviewRequest) -> float:
    """The local time of day (s after midnight) at simulation time 0: the preview's start less the warm-up. The
    NEMA controller counts the plan's offset (from local midnight) from it."""
    start = _start(request)
    return float((start.hour * 3600 + start.minute * 60 + start.second - request.warmup_s) % 86400)


def _plans(request: PreviewRequest) -> dict[tuple[str, str], tuple[PlanV1, int | None]]:
    """(intersection id, variant) → the plan and the pattern it runs (None: free)."""
    start = _start(request)
    out: dict[tuple[str, str], tuple[PlanV1, int | None]] = {}
    for i in request.intersections:
        for variant, document in i.plans.items():
            where = f"intersection {i.intersection_id}, variant {variant}"
            try:
                plan = PlanV1.model_validate(document)
            except ValidationError as exc:
                raise TwinError(f"{where}: not a signalight.plan/v1 plan: {exc.errors()[0]['msg']}") from exc
            pattern = i.patterns.get(variant)
            if pattern is None:
                try:
                    scheduled = scheduled_at(plan, start)
                except ScheduleError as exc:
                    raise TwinError(f"{where}: {exc}") from exc
                if scheduled.action in ("flash", "dark"):
                    raise TwinError(f"{where}: the plan runs {scheduled.action} at {request.start_local}; "
                                    f"choose a pattern to preview")
                pattern = scheduled.pattern
            elif not any(p.pattern == pattern for p in plan.patterns):
                raise TwinError(f"{where}: the plan has no pattern {pattern}")
            out[(i.intersection_id, variant)] = (plan, pattern)
    return out


def tl_logic(plan: PlanV1, pattern: int | None, tls: TlsLinks, detectors: Detectors, time_of_day_s: float) -> str:
    """The SUMO program for one junction: the plan's pattern (or free operation) on SUMO's NEMA controller,
    actuated by the junction's detectors. Raises ValueError naming what SUMO's controller cannot express."""
    return nema_tl_logic(plan, pattern=pattern, tls_id=tls.tls_id, phase_links=tls.phase_links,
                         link_count=tls.link_count, phase_detectors=detectors.phase_detectors[tls.tls_id],
                         detector_lanes=detectors.detector_lanes, permissive_links=tls.permissive_links,
                         time_of_day_at_start_s=time_of_day_s)


def step_length(plans: Iterable[tuple[PlanV1, int | None]]) -> float:
    """The longest simulation step that divides every timing the plans run (SUMO times a phase in whole steps):
    1 s for whole seconds, down to 0.1 s; a step of 1 s runs ~ 10 times faster than 0.1 s."""
    values: list[float] = []
    for plan, number in plans:
        for ph in plan.phases:
            values += [ph.min_green_s, ph.max_green_s, ph.passage_s, ph.yellow_s, ph.red_clear_s]
            values += [ph.walk_s or 0.0, ph.ped_clear_s or 0.0]
        values += [x for p in plan.patterns if p.pattern == number
                   for x in (p.cycle_s, p.offset_s, *p.splits_s.values())]
    for step in STEPS_S:
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return STEPS_S[-1]


def _network(request: PreviewRequest, sumo: Sumo, tmp: Path, timeout_s: float
             ) -> tuple[PlainNetwork, dict[str, TlsLinks]]:
    try:
        network = build_network([(i.intersection_id, i.geometry) for i in request.intersections], request.links)
    except NetworkError as exc:
        raise TwinError(f"the preview's geometry: {exc}") from exc
    for name, text in (("plain.nod.xml", network.nodes_xml), ("plain.edg.xml", network.edges_xml),
                       ("plain.con.xml", network.connections_xml)):
        (tmp / name).write_text(text, encoding="utf-8")
    _run([str(sumo.netconvert), "-n", "plain.nod.xml", "-e", "plain.edg.xml", "-x", "plain.con.xml",
          "-o", "net.xml", "--no-turnarounds", "--xml-validation", "never", "--no-warnings"],
         tmp, "netconvert", timeout_s, sumo.home)
    try:
        return network, tls_links((tmp / "net.xml").read_text(encoding="utf-8"), network)
    except NetworkError as exc:
        raise TwinError(f"netconvert's network: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What every run of one preview shares: SUMO, the directory holding net.xml and routes.xml, the detectors,
    what the figures are read with, the step and the limits."""

    sumo: Sumo
    tmp: Path
    setup: RunSetup
    step_s: float
    timeout_s: float


def run_preview(request: PreviewRequest, *, progress: Callable[[float], None] | None = None,
                timeout_s: float = 600.0) -> PreviewResult:
    """Run every plan variant of `request` on every seed and return the figures. `progress` gets 0..1 after each
    step. Blocks for as long as SUMO runs (each SUMO process at most `timeout_s`)."""
    sumo = find_sumo()
    plans = _plans(request)
    variants = sorted(request.intersections[0].plans)
    end_s = request.warmup_s + request.duration_s
    total = 1 + len(variants) * len(request.seeds)
    report = progress or (lambda _: None)
    time_of_day = time_of_day_at_start_s(request)
    with tempfile.TemporaryDirectory(prefix="signalight-twin-") as name:
        tmp = Path(name)
        network, links = _network(request, sumo, tmp, timeout_s)
        geometries = {i.intersection_id: i.geometry for i in request.intersections}
        detectors = build_detectors(network, links, geometries, period_s=_period(request))
        try:
            routes_xml, routes = build_routes(network, {i.intersection_id: i.demand for i in request.intersections},
                                              warmup_s=request.warmup_s, duration_s=request.duration_s,
                                              bin_s=request.bin_s)
        except ValueError as exc:
            raise TwinError(f"the preview's demand: {exc}") from exc
        (tmp / "routes.xml").write_text(routes_xml, encoding="utf-8")
        job = _Prepared(sumo=sumo, tmp=tmp, step_s=step_length(plans.values()), timeout_s=timeout_s,
                        setup=RunSetup(network=network, links=links, detectors=detectors, routes=routes,
                                       warmup_s=request.warmup_s, end_s=end_s))
        report(1 / total)
        wall = 0.0
        figures = []
        for v, variant in enumerate(variants):
            programs = []
            for j in network.junctions:
                plan, pattern = plans[(j.intersection_id, variant)]
                try:
                    programs.append(tl_logic(plan, pattern, links[j.tls_id], detectors, time_of_day))
                except ValueError as exc:
                    raise TwinError(f"intersection {j.intersection_id}, variant {variant}: {exc}") from exc
            runs: list[dict[Key, dict[str, float]]] = []
            for s, seed in enumerate(request.seeds):
                started = time.perf_counter()
                runs.append(_one_run(job, tmp / f"run-{v}-{s}", programs, seed,
                                     f"SUMO (variant {variant}, seed {seed})"))
                wall += time.perf_counter() - started
                report((2 + v * len(request.seeds) + s) / total)
            figures.append(VariantFigures(variant=variant, intersections=aggregate(network, runs)))
    runs_count = len(variants) * len(request.seeds)
    log.info("twin_preview_done intersections=%s variants=%s seeds=%s step_s=%g wall_s=%.2f",
             len(request.intersections), len(variants), len(request.seeds), job.step_s, wall)
    return PreviewResult(variants=figures, seeds=list(request.seeds), duration_s=request.duration_s,
                         sumo_version=sumo.version, simulated_s_per_wall_s=end_s * runs_count / max(wall, 1e-9))


def _period(request: PreviewRequest) -> int:
    """The measuring detectors' interval: one that divides the warm-up and the duration when one of ≥ 60 s does."""
    period = math.gcd(request.warmup_s, request.duration_s)
    return period if period >= 60 else 60


def _one_run(job: _Prepared, run_dir: Path, programs: list[str], seed: int, what: str) -> dict[Key, dict[str, float]]:
    """One SUMO process in `run_dir` (removed afterwards), its outputs read into figures."""
    run_dir.mkdir()
    try:
        # Detector output paths are relative to the additional file naming them, so it is written in run_dir.
        files = {"detectors.add.xml": job.setup.detectors.additional_xml}
        files.update({f"tls{k}.add.xml": program for k, program in enumerate(programs)})
        events = "\n".join(f'    <timedEvent type="SaveTLSSwitchStates" source="{j.tls_id}" dest="{TLS_FILE}"/>'
                           for j in job.setup.network.junctions)
        files["outputs.add.xml"] = f"<additional>\n{events}\n</additional>\n"
        for file, text in files.items():
            (run_dir / file).write_text(text, encoding="utf-8")
        _run([str(job.sumo.sumo), "-n", str(job.tmp / "net.xml"), "-r", str(job.tmp / "routes.xml"),
              "-a", ",".join(files), "--begin", "0", "--end", f"{job.setup.end_s:g}",
              "--step-length", f"{job.step_s:g}", "--seed", str(seed), "--no-step-log", "--no-warnings",
              "--xml-validation", "never", "--duration-log.disable"], run_dir, what, job.timeout_s, job.sumo.home)
        try:
            return run_figures(job.setup, (run_dir / AREA_FILE).read_bytes(), (run_dir / INSTANT_FILE).read_bytes(),
                               (run_dir / TLS_FILE).read_bytes())
        except (OSError, OutputError) as exc:
            raise TwinError(f"{what}: {exc}") from exc
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
