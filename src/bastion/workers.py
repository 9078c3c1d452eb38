"""``bastion serve --workers N``: a supervisor process and N forked worker processes on one port.

The supervisor binds the port before anything else: on Linux one ``SO_REUSEPORT`` socket per
worker slot, so the kernel spreads new connections evenly over the workers (elsewhere one shared
socket). It then loads the server's modules once and forks the workers. Each worker builds its own
``Gateway`` after the fork, because an event loop, provider sessions and database pools belong to
one process, and serves its slot's socket with uvicorn.

The supervisor keeps the slot sockets open, so the connections that reach a worker's socket while
that worker is being replaced wait in the backlog for its successor instead of being refused.

Signals: SIGTERM and SIGINT drain (every worker shuts down gracefully, in-flight streams finish,
the supervisor waits and exits 0); SIGHUP is forwarded (every worker reloads its config, and the
supervisor re-reads it for the workers it starts later). A worker that dies is logged and
replaced, after a backoff that grows while it keeps dying. A worker that fails while the server
is first starting stops the whole server with its exit code, as a single process would.

Metrics: the workers share a ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory unless one
is set), put in the environment before prometheus-client is first imported, so any worker's
``/metrics`` sums every worker's counters. The temporary directory is removed on exit.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bastion.config import BastionConfig
from bastion.config_loader import ConfigError

log = logging.getLogger("bastion.workers")

BACKLOG = 4096
#: restart delays double from the first to the last while a slot keeps failing
FIRST_RESTART_SECONDS = 0.1
LAST_RESTART_SECONDS = 30.0
#: a worker that stayed up this long after it was ready starts again with the first delay
STABLE_SECONDS = 30.0
#: from this delay on, the slot's socket is closed while its worker is down (no client waits on it)
CLOSE_SOCKET_AFTER_SECONDS = 1.0
#: how long the supervisor waits past ``server.graceful_shutdown_seconds`` before SIGKILL
KILL_MARGIN_SECONDS = 10.0
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD)


def check_config(config: BastionConfig, workers: int) -> tuple[list[str], list[str]]:
    """What stops ``workers`` processes from sharing this config (problems), and what they make worse."""
    if workers <= 1:
        return [], []
    problems: list[str] = []
    warnings: list[str] = []
    if config.limits.backend == "memory" and not config.limits.per_process:
        problems.append(
            f"--workers {workers} with limits.backend: memory: every worker would keep its own rate-limit, "
            f"concurrency and budget counters, so each limit and budget would be up to {workers} times "
            "looser. Use limits.backend: redis (exact across workers), or set limits.per_process: true "
            "to accept per-worker limits."
        )
    if config.cache.mode != "off" and config.cache.backend == "memory":
        warnings.append(
            f"--workers {workers} with cache.backend: memory: each worker keeps its own cache (fewer hits, "
            f"up to {workers} x cache.max_bytes of memory); cache.backend: redis shares one."
        )
    return problems, warnings


def checked_source(source: Callable[[], BastionConfig], workers: int) -> Callable[[], BastionConfig]:
    """``source`` that also refuses a config several workers cannot share (a reload keeps the old one)."""

    def load() -> BastionConfig:
        config = source()
        problems, _ = check_config(config, workers)
        if problems:
            raise ConfigError("config", problems)
        return config

    return load


# --------------------------------------------------------------------------- sockets


def open_listeners(host: str, port: int, slots: int, *, joining: bool = False) -> list[list[socket.socket]]:
    """The listening sockets of each worker slot (every address ``host`` resolves to).

    With ``SO_REUSEPORT`` (Linux) every slot has sockets of its own and the kernel balances
    connections between them; otherwise all slots share one set. ``joining``: our other slots
    already listen there (a slot's sockets opened again).
    """
    addresses = []
    for family, kind, proto, _, address in socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        if (family, address) not in [(f, a) for f, _, _, a in addresses]:
            addresses.append((family, kind, proto, address))
    for family, kind, proto, address in addresses if not joining else ():
        # SO_REUSEPORT would let us join a group another server already listens in: check first
        _bind(family, kind, proto, address, reuse_port=False).close()
    reuse_port = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    opened: list[list[socket.socket]] = []
    try:
        for _ in range(slots if reuse_port else 1):
            opened.append([_bind(*spec, reuse_port=reuse_port) for spec in addresses])
            for sock in opened[-1]:
                sock.listen(BACKLOG)
    except OSError:
        for sockets in opened:
            for sock in sockets:
                sock.close()
        raise
    return opened if reuse_port else opened * slots


def _bind(family: int, kind: int, proto: int, address: Any, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio does
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


# --------------------------------------------------------------------------- metrics


class MetricsDirectory:
    """The directory of prometheus-client's multiprocess mode, set in the environment for the workers."""

    def __init__(self) -> None:
        given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.owned = not given
        self.path = given or tempfile.mkdtemp(prefix="bastion-metrics-")
        if given:  # the files of an earlier run would be counted again
            Path(given).mkdir(parents=True, exist_ok=True)
            for stale in Path(given).glob("*.db"):
                stale.unlink()
        if "prometheus_client" in sys.modules:
            log.warning("prometheus_client was imported before the workers' metrics directory was set")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.path

    def forget(self, pid: int) -> None:
        """Drop a dead worker's live gauges; its counters stay in the totals."""
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, self.path)

    def remove(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


# --------------------------------------------------------------------------- workers


@dataclass
class WorkerSeat:
    """What a worker process gets from the supervisor: its number, its sockets, a way to say it is ready."""

    index: int
    sockets: list[socket.socket]
    ready_fd: int

    def serve(self, server: Any) -> None:
        """Run a ``uvicorn.Server`` on this worker's sockets; report once it accepts connections."""
        startup = server.startup

        async def startup_then_report(sockets: list[socket.socket] | None = None) -> None:
            await startup(sockets=sockets)
            if server.started:
                os.write(self.ready_fd, b"r")

        server.startup = startup_then_report
        server.run(sockets=self.sockets)


#: runs in the worker process: serve ``config`` on ``seat`` with this config source; returns the exit code
ServeWorker = Callable[[BastionConfig, WorkerSeat, Callable[[], BastionConfig]], int]


@dataclass
class _Worker:
    slot: int
    pid: int
    ready_fd: int
    ready_at: float | None = None
    reload_pending: bool = False


@dataclass
class RestartBackoff:
    """How long a slot waits before its next worker: doubling while its workers keep dying."""

    clock: Callable[[], float] = time.monotonic
    failures: dict[int, int] = field(default_factory=dict)

    def delay(self, slot: int, ready_at: float | None) -> float:
        """The wait after the worker in ``slot`` died (``ready_at``: when it became ready, if it did)."""
        if ready_at is not None and self.clock() - ready_at >= STABLE_SECONDS:
            self.failures[slot] = 0
        count = self.failures.get(slot, 0)
        self.failures[slot] = count + 1
        return min(LAST_RESTART_SECONDS, FIRST_RESTART_SECONDS * 2**count)


class Supervisor:
    """Starts, watches and stops the workers; the parent of them all, serving no request itself."""

    def __init__(
        self,
        config: BastionConfig,
        workers: int,
        serve_worker: ServeWorker,
        config_source: Callable[[], BastionConfig],
        metrics: MetricsDirectory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.count = workers
        self.serve_worker = serve_worker
        self.config_source = checked_source(config_source, workers)
        self.metrics = metrics
        self.clock = clock
        self.backoff = RestartBackoff(clock)
        self.listeners: list[list[socket.socket]] = []
        self.workers: dict[int, _Worker] = {}  # by pid
        self.restarts: dict[int, float] = {}  # slot -> when to start its next worker
        self.started_once: set[int] = set()  # slots whose first worker became ready
        self.stopping_since: float | None = None
        self.exit_code = 0
        self._wake_read = self._wake_write = -1

    # ----------------------------------------------------------------- main loop
    def run(self) -> int:
        server = self.config.server
        try:
            self.listeners = open_listeners(server.host, server.port, self.count)
        except OSError as error:
            log.error("cannot listen on %s:%d: %s", server.host, server.port, error.strerror or error)
            return 1
        self._install_signal_handlers()
        try:
            for slot in range(self.count):
                self._spawn(slot)
            log.info(
                "supervisor pid %d: %d workers on http://%s:%d",
                os.getpid(),
                self.count,
                server.host,
                server.port,
            )
            while self.workers or (self.stopping_since is None and self.restarts):
                self._wait()
                self._reap()
                self._start_due()
                self._kill_stragglers()
            return self.exit_code
        finally:
            for sig in _FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            signal.set_wakeup_fd(-1)
            self._close_listeners()
            for fd in (self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _wait(self) -> None:
        timeout = 0.5  # also the period of the shutdown deadline check
        if self.restarts and self.stopping_since is None:
            timeout = max(0.0, min(timeout, min(self.restarts.values()) - self.clock()))
        ready_fds = {worker.ready_fd: worker for worker in self.workers.values() if worker.ready_fd >= 0}
        readable, _, _ = select.select([self._wake_read, *ready_fds], [], [], timeout)
        for fd in readable:
            if fd == self._wake_read:
                for number in os.read(fd, 64):
                    self._on_signal(number)
            else:
                self._on_ready(ready_fds[fd])

    def _on_ready(self, worker: _Worker) -> None:
        message = os.read(worker.ready_fd, 1)
        os.close(worker.ready_fd)
        worker.ready_fd = -1
        if message != b"r":
            return  # closed without a word: it died, and _reap() will say so
        worker.ready_at = self.clock()
        self.started_once.add(worker.slot)
        log.info("worker %d (pid %d) ready", worker.slot, worker.pid)
        if worker.reload_pending:
            worker.reload_pending = False
            self._signal(worker, signal.SIGHUP)

    # ----------------------------------------------------------------- signals
    def _install_signal_handlers(self) -> None:
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        signal.set_wakeup_fd(self._wake_write)  # the signal numbers arrive as bytes: select() wakes
        for sig in _FORWARDED:
            signal.signal(sig, _ignore)

    def _on_signal(self, number: int) -> None:
        if number in (signal.SIGTERM, signal.SIGINT):
            if self.stopping_since is None:
                log.warning("%s: draining %d workers", signal.Signals(number).name, len(self.workers))
                self._stop(signal.SIGTERM)
            else:  # a second one: uvicorn stops waiting for open connections on SIGINT
                self._stop(signal.SIGINT)
        elif number == signal.SIGHUP:
            self._reload()

    def _stop(self, sig: int) -> None:
        if self.stopping_since is None:
            self.stopping_since = self.clock()
            self.restarts.clear()
            self._close_listeners()  # new connections are refused at once, not queued for nobody
        for worker in self.workers.values():
            self._signal(worker, sig)

    def _reload(self) -> None:
        try:
            self.config = self.config_source()
        except ConfigError as error:
            log.error("SIGHUP: the new config is refused; the workers keep theirs:\n%s", error)
            return
        log.warning("SIGHUP: reloading the config in %d workers", len(self.workers))
        for worker in self.workers.values():
            if worker.ready_at is None:  # not listening to SIGHUP yet: tell it once it is
                worker.reload_pending = True
            else:
                self._signal(worker, signal.SIGHUP)

    @staticmethod
    def _signal(worker: _Worker, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, sig)

    def _kill_stragglers(self) -> None:
        if self.stopping_since is None:
            return
        limit = self.config.server.graceful_shutdown_seconds + KILL_MARGIN_SECONDS
        if self.clock() - self.stopping_since > limit:
            for worker in self.workers.values():
                log.error(
                    "worker %d (pid %d) still running %.0f s after SIGTERM: killed",
                    worker.slot,
                    worker.pid,
                    limit,
                )
                self._signal(worker, signal.SIGKILL)
            self.exit_code = 1
            self.stopping_since = self.clock()  # again after as long, if SIGKILL did not end them

    # ----------------------------------------------------------------- workers dying and starting
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            if worker.ready_fd >= 0:
                os.close(worker.ready_fd)
            if self.metrics is not None:
                self.metrics.forget(pid)
            self._on_exit(worker, status)

    def _on_exit(self, worker: _Worker, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        how = f"exit code {code}" if code >= 0 else f"signal {_signal_name(-code)}"
        if self.stopping_since is not None:
            if code != 0:
                log.warning("worker %d (pid %d) stopped with %s", worker.slot, worker.pid, how)
                self.exit_code = self.exit_code or 1
            return
        if worker.slot not in self.started_once:  # it never served: the server cannot start
            log.error("worker %d (pid %d) failed to start (%s): stopping", worker.slot, worker.pid, how)
            self.exit_code = code if code > 0 else 1
            self._stop(signal.SIGTERM)
            return
        delay = self.backoff.delay(worker.slot, worker.ready_at)
        log.error(
            "worker %d (pid %d) died (%s); starting a new one in %.1f s", worker.slot, worker.pid, how, delay
        )
        if delay >= CLOSE_SOCKET_AFTER_SECONDS and self._own_sockets:
            for sock in self.listeners[worker.slot]:  # its own: the kernel routes to the others meanwhile
                sock.close()
        self.restarts[worker.slot] = self.clock() + delay

    def _start_due(self) -> None:
        now = self.clock()
        for slot, due in sorted(self.restarts.items()):
            if due > now:
                continue
            del self.restarts[slot]
            if any(sock.fileno() < 0 for sock in self.listeners[slot]):
                server = self.config.server
                try:
                    self.listeners[slot] = open_listeners(server.host, server.port, 1, joining=True)[0]
                except OSError as error:
                    log.error("worker %d: cannot listen again (%s); retrying", slot, error)
                    self.restarts[slot] = now + self.backoff.delay(slot, None)
                    continue
            try:
                self._spawn(slot)
            except OSError as error:  # out of processes or memory: try again later
                log.error("worker %d: cannot start (%s); retrying", slot, error)
                self.restarts[slot] = now + self.backoff.delay(slot, None)

    def _spawn(self, slot: int) -> None:
        supervisor = os.getpid()
        ready_read, ready_write = os.pipe()
        # a signal arriving between fork and the child's own handlers must not run ours in the child
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _FORWARDED)
        try:
            gc.freeze()  # what exists now is shared with the child: keep the collector from copying it
            pid = os.fork()
            if pid == 0:
                os.close(ready_read)
                self._run_worker(slot, ready_write, blocked, supervisor)  # never returns
        except OSError:
            os.close(ready_read)
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            os.close(ready_write)
        self.workers[pid] = _Worker(slot=slot, pid=pid, ready_fd=ready_read)
        log.info("worker %d: pid %d", slot, pid)

    def _run_worker(self, slot: int, ready_fd: int, blocked: set[signal.Signals], supervisor: int) -> None:
        """The child's side of the fork: become a plain process with one slot, serve, exit."""
        code = 1
        try:
            _die_with_parent()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until the app listens for it
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if os.getppid() != supervisor:  # it died before we asked to follow it
                os._exit(1)
            for fd in (self._wake_read, self._wake_write):
                os.close(fd)
            for other in self.workers.values():
                if other.ready_fd >= 0:
                    os.close(other.ready_fd)
            own = self.listeners[slot]
            for sockets in self.listeners:
                for sock in sockets:
                    if sock not in own:
                        sock.close()
            seat = WorkerSeat(index=slot, sockets=own, ready_fd=ready_fd)
            code = self.serve_worker(self.config, seat, self.config_source)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:
            logging.getLogger("bastion").exception("worker %d failed", slot)
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    @property
    def _own_sockets(self) -> bool:
        """Whether each slot listens on sockets of its own (SO_REUSEPORT), not one shared set."""
        return len({id(sockets) for sockets in self.listeners}) == len(self.listeners) > 1

    def _close_listeners(self) -> None:
        for sockets in self.listeners:
            for sock in sockets:
                sock.close()


def run_workers(
    config: BastionConfig,
    workers: int,
    serve_worker: ServeWorker,
    config_source: Callable[[], BastionConfig],
) -> int:
    """The supervisor's whole life: check the config, set up metrics, preload, fork, watch, clean up."""
    server = config.server
    logging.basicConfig(
        level=server.log_level.upper(),
        format="%(asctime)s %(levelname)s [supervisor] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    problems, warnings = check_config(config, workers)
    if not hasattr(os, "fork"):
        problems.append("--workers needs os.fork (Linux, macOS); run one process per port instead")
    for problem in problems:
        print(f"refusing to start: {problem}", file=sys.stderr)
    if problems:
        return 1
    for warning in warnings:
        log.warning("%s", warning)
    metrics = MetricsDirectory()
    try:
        _preload()
        return Supervisor(config, workers, serve_worker, config_source, metrics).run()
    finally:
        metrics.remove()


def _preload() -> None:
    """Import the server once in the supervisor: each fork starts with it loaded (and shares its memory)."""
    import importlib.util

    import bastion.app  # noqa: F401

    for module in ("uvicorn", "uvloop", "httptools"):
        if importlib.util.find_spec(module) is not None:
            __import__(module)


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM (a graceful stop) if the supervisor is killed outright."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _ignore(signum: int, frame: object) -> None:
    """A Python-level handler, so the signal number reaches the wakeup pipe; the loop acts on it."""
