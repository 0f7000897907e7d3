"""Simulations off the request thread: one at a time per server, the newest what-if first.

A :class:`Runner` owns one worker thread. Requests only queue a :class:`Job` and return;
the page polls the job for its progress and result, so a closed browser or a second tab
costs nothing and never blocks the server.

* A new what-if **supersedes** older ones: a queued what-if is dropped, a running one is
  stopped at its next draw (the simulator's ``on_progress`` callback raises
  :class:`Superseded`). Writing a plan directory is never interrupted.
* Results are kept per assumptions (a few projections, least recently used first out), so
  going back to an earlier what-if, or writing the plan directory of the one on screen,
  does not simulate again.
* A failure is the job's message (a :class:`~targetsim.errors.TargetsimError` as it is,
  anything else as "internal error" with the traceback on the server's terminal); the
  worker goes on with the next job.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from targetsim.errors import TargetsimError
from targetsim.io import output_folder, staged_outputs
from targetsim.serve.assumptions import Assumptions
from targetsim.serve.context import PlanContext
from targetsim.serve.whatif import (
    build_view,
    lever_view,
    simulate_assumptions,
    solve_board_levers,
    write_plan_dir,
)

#: Projections kept for reuse.
CACHE_SIZE = 8
#: Finished jobs kept for polling.
JOBS_KEPT = 64
#: Lever searches kept for reuse.
LEVERS_KEPT = 32


class Superseded(Exception):
    """Raised inside a simulation whose what-if was replaced by a newer one."""


class Job:
    """One unit of work and its state, read by the page while the worker fills it in.

    ``state`` is ``queued``, ``running``, ``done``, ``error`` or ``superseded``; ``stage``
    says what is running (``simulating``, ``levers``, ...), with ``done`` / ``total``
    draws of the current simulation.
    """

    def __init__(self, kind: str, assumptions: Assumptions, out_dir: Path | None = None):
        self.id = uuid.uuid4().hex[:12]
        self.kind = kind
        self.assumptions = assumptions
        self.out_dir = out_dir
        self.state = "queued"
        self.stage = "waiting for the simulator"
        self.done = 0
        self.total = 0
        self.simulations = 0
        self.message: str | None = None
        self.result: dict[str, Any] | None = None
        self.cancel = threading.Event()
        self.started = time.monotonic()
        self.seconds: float | None = None
        self.targets_seconds: float | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "job": self.id, "kind": self.kind, "state": self.state, "stage": self.stage,
            "done": self.done, "total": self.total, "simulations": self.simulations,
            "message": self.message, "result": self.result, "seconds": self.seconds,
            "targets_seconds": self.targets_seconds,
        }


class Runner:
    """The server's simulation worker (see the module docstring).

    Parameters
    ----------
    ctx : PlanContext
    """

    def __init__(self, ctx: PlanContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[Job] = deque()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._running: Job | None = None
        self._projections: OrderedDict[str, xr.Dataset] = OrderedDict()
        self._levers: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="targetsim-serve-worker",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ requests
    def submit_whatif(self, a: Assumptions) -> Job:
        """Queue a what-if; older what-ifs, queued or running, are superseded."""
        job = Job("whatif", a)
        with self._lock:
            for old in [j for j in self._queue if j.kind == "whatif"]:
                self._queue.remove(old)
                self._finish(old, "superseded", "replaced by a newer what-if")
            if self._running is not None and self._running.kind == "whatif":
                self._running.cancel.set()
            self._add(job)
        return job

    def submit_write(self, a: Assumptions, out_dir: Path) -> Job:
        """Queue writing a plan directory (never superseded)."""
        job = Job("write", a, out_dir)
        with self._lock:
            self._add(job)
        return job

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A snapshot of a job, or None when unknown."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.snapshot()

    def wait(self, job_id: str, timeout: float = 60.0) -> dict[str, Any] | None:
        """Block until a job ends (for scripts and tests); its last snapshot."""
        end = time.monotonic() + timeout
        while True:
            snap = self.get(job_id)
            if snap is None or snap["state"] in ("done", "error", "superseded"):
                return snap
            if time.monotonic() > end:
                return snap
            time.sleep(0.02)

    def close(self) -> bool:
        """Stop the worker after the current job (a running what-if is stopped).

        Returns True once the worker has stopped (False: still busy after 10 s).
        """
        with self._lock:
            self._closed = True
            if self._running is not None and self._running.kind == "whatif":
                self._running.cancel.set()
            self._wake.notify_all()
        self._thread.join(timeout=10)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------ internals
    def _add(self, job: Job) -> None:
        self._jobs[job.id] = job
        while len(self._jobs) > JOBS_KEPT:
            oldest = next(iter(self._jobs))
            if self._jobs[oldest].state in ("queued", "running"):
                break
            self._jobs.pop(oldest)
        self._queue.append(job)
        self._wake.notify_all()

    def _finish(self, job: Job, state: str, message: str | None = None) -> None:
        job.state = state
        job.message = message
        job.seconds = round(time.monotonic() - job.started, 3)

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                self._running = job
                job.state = "running"
            try:
                if job.kind == "whatif":
                    self._run_whatif(job)
                else:
                    self._run_write(job)
                with self._lock:
                    self._finish(job, "done")
            except Superseded:
                with self._lock:
                    self._finish(job, "superseded", "replaced by a newer what-if")
            except TargetsimError as exc:
                with self._lock:
                    self._finish(job, "error", str(exc))
            except KeyboardInterrupt:  # Ctrl-C stops the server: nothing half-written is kept
                with self._lock:
                    self._finish(job, "error", "interrupted")
            except Exception as exc:  # a bug: keep serving, say so, keep the traceback
                traceback.print_exc(file=sys.stderr)
                with self._lock:
                    self._finish(job, "error", f"internal error: {type(exc).__name__}: {exc} "
                                 "(details on the server's terminal)")
            finally:
                with self._lock:
                    self._running = None

    def _progress(self, job: Job, stage: str) -> Callable[[int, int], None]:
        with self._lock:
            job.stage, job.done, job.total = stage, 0, 0

        def on_progress(done: int, total: int) -> None:
            if job.cancel.is_set():
                raise Superseded
            with self._lock:
                job.done, job.total = done, total
                if done >= total:
                    job.simulations += 1

        return on_progress

    def _projection(self, job: Job) -> xr.Dataset:
        a = job.assumptions
        with self._lock:
            ds = self._projections.get(a.scenario_key)
            if ds is not None:
                self._projections.move_to_end(a.scenario_key)
                return ds
        engine = "SimPy" if a.scenario.capacity is not None else "vectorised"
        ds = simulate_assumptions(self.ctx, a, self._progress(job, f"simulating ({engine} "
                                                                   "engine)"))
        with self._lock:
            self._projections[a.scenario_key] = ds
            while len(self._projections) > CACHE_SIZE:
                self._projections.popitem(last=False)
        return ds

    def _run_whatif(self, job: Job) -> None:
        a = job.assumptions
        ds = self._projection(job)
        if job.cancel.is_set():
            raise Superseded
        view = build_view(self.ctx, a, ds)
        board = view["board"]
        needs_levers = board is not None and not board["reached"]
        with self._lock:
            cached = self._levers.get(a.key)
            if cached is not None:
                view["levers"] = lever_view(cached)
            else:
                view["levers"] = "pending" if needs_levers else None
            job.result = view
            job.targets_seconds = round(time.monotonic() - job.started, 3)
        if not needs_levers or cached is not None:
            return
        rows = solve_board_levers(self.ctx, a, ds, self._progress(job, "levers"))
        with self._lock:
            self._levers[a.key] = rows
            while len(self._levers) > LEVERS_KEPT:
                self._levers.popitem(last=False)
            job.result = {**view, "levers": lever_view(rows)}

    def _run_write(self, job: Job) -> None:
        a = job.assumptions
        ds = self._projection(job)

        def on_stage(text: str) -> None:
            with self._lock:
                job.stage = text

        with self._lock:
            rows = self._levers.get(a.key)
        out = Path(job.out_dir or ".")
        # One run per folder (a plan or another page writing there stops this one with a
        # message), and the folder gets every file or none (targetsim.io).
        with output_folder(out, "plan directory") as folder, staged_outputs(folder) as stage:
            files = write_plan_dir(self.ctx, a, ds, stage, lever_rows=rows, on_stage=on_stage)
        with self._lock:
            job.result = {"out_dir": str(out), "files": sorted({p.name for p in files})}
