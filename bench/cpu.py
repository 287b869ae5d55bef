"""CPU seconds of a measurement: this process (the client) and the PostgreSQL backend serving it.

The server runs on this machine (the bench only talks to 127.0.0.1), so a backend's CPU is read from
``/proc/<pg_backend_pid()>/stat`` (utime + stime) before and after. A backend may hand part of a query to
parallel workers, separate processes that live for one query; while the measurement runs, a sampler thread
looks for the postmaster's children named ``parallel worker for PID <backend>`` (about every 10 ms, a few
small ``/proc`` reads) and keeps each one's last CPU figure. A worker that lives less than one interval, or
the last interval of one, can be missed: at most ~10 ms per parallel query. The sampler's own CPU is taken
out of the client's (``time.thread_time`` in the thread).

``cpu = CpuMeter(backend_pid); cpu.start(); ...; figures = cpu.stop()`` gives ``client_cpu_seconds``,
``backend_cpu_seconds`` (the backend plus its parallel workers; None when ``/proc`` does not show the
backend: another machine's server), ``parallel_worker_cpu_seconds``, ``parallel_workers_seen`` and
``cpu_seconds`` (client + backend).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far, or None if ``/proc`` does not show it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, ValueError, IndexError):
        return None


def _parent_pid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Client and backend CPU between ``start()`` and ``stop()`` (see the module docstring)."""

    def __init__(self, backend_pid: int | None, interval: float = 0.01) -> None:
        self.backend_pid = backend_pid
        self.interval = interval
        self.postmaster = _parent_pid(backend_pid) if backend_pid else None
        self._workers: dict[int, float] = {}  # pid -> last CPU seen
        self._not_workers: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampler_cpu = 0.0
        self._marker = f"parallel worker for PID {backend_pid}".encode()

    def _sample(self) -> None:
        for pid in _children(self.postmaster):
            if pid in self._not_workers:
                continue
            if pid not in self._workers:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if self._marker not in cmdline:
                    self._not_workers.add(pid)
                    continue
            cpu = proc_cpu_seconds(pid)
            if cpu is not None:
                self._workers[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()
        self._sample()
        self._sampler_cpu = time.thread_time()

    def start(self) -> CpuMeter:
        if self.postmaster:
            self._not_workers.update(_children(self.postmaster))  # present before: not ours
            self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
            self._thread.start()
        self._backend_before = proc_cpu_seconds(self.backend_pid) if self.backend_pid else None
        self._client_before = self_cpu_seconds()
        self._wall_before = time.perf_counter()
        return self

    def stop(self) -> dict:
        wall = time.perf_counter() - self._wall_before
        client = self_cpu_seconds() - self._client_before
        backend_after = proc_cpu_seconds(self.backend_pid) if self.backend_pid else None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            client -= self._sampler_cpu
        workers = sum(self._workers.values())
        backend = None
        if self._backend_before is not None and backend_after is not None:
            backend = backend_after - self._backend_before + workers
        return {
            "wall_seconds": round(wall, 3),
            "client_cpu_seconds": round(max(client, 0.0), 3),
            "backend_cpu_seconds": round(backend, 3) if backend is not None else None,
            "parallel_worker_cpu_seconds": round(workers, 3),
            "parallel_workers_seen": len(self._workers),
            "cpu_seconds": round(max(client, 0.0) + backend, 3) if backend is not None else None,
        }


def database_backends_cpu(conninfo: str, database: str) -> dict[int, float]:
    """CPU seconds so far of every backend connected to ``database`` (this query's own excluded), by pid; empty
    when ``/proc`` does not show them. Compare two snapshots with ``backends_cpu_delta``."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
            )
        ]
    figures = {pid: proc_cpu_seconds(pid) for pid in pids}
    return {pid: cpu for pid, cpu in figures.items() if cpu is not None}


def backends_cpu_delta(before: dict[int, float], after: dict[int, float]) -> float | None:
    """CPU the backends used between two snapshots (a backend new in ``after`` counts from its start; one that
    ended in between is missed); None when there is nothing to compare."""
    if not after:
        return None
    return round(sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()), 3)
