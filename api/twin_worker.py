"""What a preview's worker process runs: import the runner, run the request, send progress and the answer back.

Started by `api.twin_jobs` with the `spawn` method (a fresh interpreter: the API process has threads and an event
loop that `fork` would copy half-way). Messages on the pipe, in order: any number of `("progress", p)` (0..1, sent
when p moved by ≥ 1 %), then exactly one `("done", PreviewResult as JSON)` or `("failed", code, message)`. A
process that dies before its last message is reported by the parent (EOF on the pipe).

Codes: `twin_unavailable` (SUMO is not installed: the runner's `TwinUnavailable`, or the runner module missing),
`twin_error` (SUMO failed: the runner's `TwinError`), `worker_error` (anything else, with its type). The runner's
exceptions are recognised by class name, so this module does not import the runner before it is asked to.
"""

from __future__ import annotations

import importlib
from multiprocessing.connection import Connection
from typing import Any

from controllers.twin.model import PreviewRequest, PreviewResult

PROGRESS_STEP = 0.01
MAX_MESSAGE = 2000


def failure_code(exc: BaseException) -> str:
    name = type(exc).__name__
    return {"TwinUnavailable": "twin_unavailable", "TwinError": "twin_error"}.get(name, "worker_error")


def work(runner_path: str, request_json: dict[str, Any], conn: Connection) -> None:
    """The worker process's target (blocking; returns when the answer is sent)."""
    last = [-1.0]

    def progress(p: float) -> None:
        p = min(max(float(p), 0.0), 1.0)
        if p - last[0] >= PROGRESS_STEP or p >= 1.0 > last[0]:
            last[0] = p
            conn.send(("progress", p))

    try:
        module_name, function = runner_path.split(":", 1)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            conn.send(("failed", "twin_unavailable", f"the twin runner {module_name} is not installed ({exc}); "
                                                     "install it with pip install 'signalight[twin]'"))
            return
        run = getattr(module, function)
        result = run(PreviewRequest.model_validate(request_json), progress=progress)
        if not isinstance(result, PreviewResult):
            raise TypeError(f"{runner_path} returned {type(result).__name__}, not a PreviewResult")
        conn.send(("done", result.model_dump(mode="json")))
    except Exception as exc:  # the one top of the worker: every failure becomes the job's answer
        conn.send(("failed", failure_code(exc), f"{type(exc).__name__}: {exc}"[:MAX_MESSAGE]))
    finally:
        conn.close()
