"""The analyzers in a child process, so that inference gets a core of its own.

Readers demux and decode in threads of the main process; PyAV holds the GIL for part of that
work, and so do the analyzers' Python parts, so in one process the two halves share one core
(measured with py-spy: bench/ingest_scale.py --analyze stayed under one core). The child owns
the detector and every camera's analyzer state; the main process keeps the mailbox, the store
and the live view.

The parent and the child talk over one duplex pipe; the child answers requests in order, so
the parent may send the next batch before collecting the last reply (it keeps two in flight):

  parent → child   AnalyzeRequest: the batch's jobs (camera, pixels, context), pickled as one
                   message (each blocking call in the parent has to win the GIL back from the
                   readers' threads, so a batch is one call, not one per frame)
                   FlushRequest(t)
  child → parent   Ready | StartFailed once, then one EngineReply per request

A child that dies or stops answering is killed and reported as `EngineLost`; the next batch
starts a new one (after a capped backoff when it keeps dying).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import random
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from analyzers.detector import ModelError
from hallwatch.analysis_worker import EngineLost, EngineReply, Job, LocalEngine
from hallwatch.config import Site
from ingest.backoff import BackoffPolicy, backoff_delay, failures_after

log = logging.getLogger(__name__)

Connection = multiprocessing.connection.Connection


@dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    """A batch, pixels included, as one message."""

    jobs: tuple[Job, ...]


@dataclass(frozen=True, slots=True)
class FlushRequest:
    t: float


@dataclass(frozen=True, slots=True)
class Ready:
    cameras: int


@dataclass(frozen=True, slots=True)
class StartFailed:
    message: str
    model_error: bool  # a ModelError: the config's model cannot be used


Request = AnalyzeRequest | FlushRequest


# --- the child ------------------------------------------------------------------------------


def build_engine(site: Site, config_dir: Path) -> LocalEngine:
    """The detector and every camera's analyzer, as the site config says."""
    from hallwatch.detection import site_detector
    from hallwatch.rules import camera_analyzer

    detector = site_detector(site.detector, config_dir)
    analyzers = {c.id: camera_analyzer(site, c, detector) for c in site.cameras}
    return LocalEngine(analyzers, detector, site.analysis.max_batch)


def serve_requests(conn: Connection, engine: LocalEngine) -> None:
    """Answer requests until the parent closes the pipe."""
    while True:
        try:
            request: Request = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe (or is gone): end quietly
            return
        if isinstance(request, AnalyzeRequest):
            conn.send(engine.analyze(request.jobs))
        else:
            conn.send(engine.flush(request.t))


def child_main(conn: Connection, site: Site, config_dir: Path, log_level: int) -> None:
    """Entry point of the analysis process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
    logging.basicConfig(level=log_level, format="%(asctime)s analysis %(levelname)s %(message)s")
    try:
        engine = build_engine(site, config_dir)
    except Exception as error:
        conn.send(StartFailed(str(error), isinstance(error, ModelError)))
        return
    conn.send(Ready(len(engine.analyzers)))
    serve_requests(conn, engine)


# --- the parent -----------------------------------------------------------------------------


RESTART_POLICY = BackoffPolicy(initial_s=1.0, max_s=30.0, healthy_reset_s=60.0)

GIL_SWITCH_INTERVAL_S = 0.001
"""The parent's GIL hand-over interval (Python's default is 0.005 s). The thread that feeds the
child must win the GIL back from dozens of reader threads after every pipe call; with the
default it often waited long enough to leave the child idle. bench/ingest_scale.py, 32
sub-stream cameras with analysis: 89 % of sampled frames analysed at 0.02 s, 100 % and 95 % at
0.001 s, with less CPU per camera (4.5 % against 4.8 %)."""


def tune_parent_interpreter() -> None:
    """Set the GIL switch interval of the process that hosts the readers and the worker."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class ProcessEngine:
    """An `Engine` whose analyzers live in a child process (started by the constructor, which
    raises ModelError when the child cannot load the model, like an in-process start)."""

    def __init__(
        self,
        site: Site,
        config_dir: Path,
        *,
        start_timeout_s: float = 120.0,
        reply_timeout_s: float = 60.0,
    ) -> None:
        self.site = site
        self.config_dir = config_dir
        self.start_timeout_s = start_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._failures = 0
        self._started_at = 0.0
        self._closing = threading.Event()
        self._pending = 0  # requests sent and not yet answered
        self._start()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _start(self) -> None:
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=child_main,
            args=(child, self.site, self.config_dir, logging.getLogger().level),
            name="hallwatch-analysis",
            daemon=True,
        )
        process.start()
        child.close()  # the child's end lives in the child only: its death is our EOF
        self._process, self._conn, self._started_at = process, parent, time.monotonic()
        self._pending = 0
        try:
            message = self._receive(self.start_timeout_s, "start")
        except EngineLost as error:
            self._stop_child()
            raise ModelError(f"the analysis process did not start: {error}") from error
        if isinstance(message, StartFailed):
            self._stop_child()
            raise (
                ModelError(message.message)
                if message.model_error
                else RuntimeError(f"the analysis process did not start: {message.message}")
            )
        assert isinstance(message, Ready), message
        log.info("analysis process %d ready with %d camera(s)", process.pid, message.cameras)

    def _receive(self, timeout_s: float, what: str) -> object:
        assert self._conn is not None and self._process is not None
        try:
            if not self._conn.poll(timeout_s):
                raise EngineLost(f"no answer to {what} within {timeout_s:.0f} s")
            return self._conn.recv()
        except (EOFError, OSError) as error:
            raise EngineLost(self._ended()) from error

    def _ended(self) -> str:
        assert self._process is not None
        self._process.join(1)
        return f"the analysis process ended (exit code {self._process.exitcode})"

    def _stop_child(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._process = self._conn = None

    def _lost(self) -> None:
        healthy_s = time.monotonic() - self._started_at
        self._failures = failures_after(RESTART_POLICY, self._failures, healthy_s)
        self._stop_child()

    def _ensure_running(self) -> None:
        if self._process is not None:
            return
        delay = backoff_delay(RESTART_POLICY, max(self._failures - 1, 0), random.random())
        log.warning("restarting the analysis process in %.1f s", delay)
        if self._closing.wait(delay):
            raise EngineLost("the engine is closed")
        self.restarts += 1
        try:
            self._start()
        except (ModelError, RuntimeError) as error:  # e.g. the model file went away meanwhile
            self._failures += 1
            raise EngineLost(f"restart failed: {error}") from error

    def _send(self, request: Request) -> None:
        self._ensure_running()
        assert self._conn is not None
        try:
            self._conn.send(request)
        except OSError as error:  # a broken pipe: the child is gone
            lost = EngineLost(self._ended())
            self._lost()
            raise lost from error
        self._pending += 1

    def collect(self) -> EngineReply:
        """The reply to the oldest request not yet collected."""
        if self._process is None or self._pending == 0:
            raise EngineLost("no request is waiting for a reply")
        try:
            reply = self._receive(self.reply_timeout_s, "analysis")
        except EngineLost:
            self._lost()
            raise
        self._pending -= 1
        assert isinstance(reply, EngineReply)
        return reply

    def submit(self, jobs: Sequence[Job]) -> None:
        self._send(AnalyzeRequest(tuple(jobs)))

    def analyze(self, jobs: Sequence[Job]) -> EngineReply:
        self.submit(jobs)
        return self.collect()

    def flush(self, t: float) -> EngineReply:
        """Close every camera's episodes (after the replies still pending, which are lost)."""
        if self._process is None:  # lost: a new process would have nothing to flush
            return EngineReply()
        while self._pending:
            self.collect()
        self._send(FlushRequest(t))
        return self.collect()

    def close(self) -> None:
        self._closing.set()
        self._stop_child()
