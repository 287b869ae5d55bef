"""The one helper of every race and concurrency test: threads and processes that can never hang a test, never
hide an error, and that prove the race a test claims.

    with Race(timeout=60) as race:
        first = race.hold(obligations_transition, obligation_ids=[a], status="cancelled")  # locks held, open
        second = race.thread(obligations_transition, obligation_ids=[b], status="cancelled")
        race.wait_until_blocked(second)  # fails unless PostgreSQL shows it waiting on a lock
        first.release()  # commit the holder's transaction
    # leaving the block joined everything: a party still alive fails the test, a thread's exception is re-raised

- ``race.thread(fn, *args, **kwargs)`` runs ``fn`` in a thread on its own database connection (closed when it
  ends); ``.result`` is its return value once joined, ``.backend_pid`` its PostgreSQL backend.
- ``race.together(count, work)`` starts ``count`` threads running ``work(i)`` behind one barrier.
- ``race.hold(fn, ...)`` runs ``fn`` inside ``transaction.atomic()`` in a thread and returns once ``fn`` has
  returned with that transaction still open (its locks held) until ``.release()``.
- ``race.process(*manage_args)`` runs ``manage.py`` against the test database in a real process
  (``race.popen(argv)`` any command); its PostgreSQL ``application_name`` identifies its backends;
  ``.wait()`` ends it (failing after the timeout) and keeps ``.returncode``, ``.stdout``, ``.stderr``.
- ``race.wait_until_blocked(*parties)``: polls ``pg_stat_activity`` until every party's backend shows
  ``wait_event_type = 'Lock'`` in one snapshot; fails at the deadline, or as soon as a party ends first.
- ``race.activity(party)`` the party's backends as PostgreSQL shows them now; ``race.wait_until(predicate,
  what)`` polls any condition with the deadline.
- ``race.finish(*threads)`` joins some threads before the end (failing if one is still alive, re-raising its
  exception): for a party that must complete while another still holds its locks.
- ``race.join()`` (also on leaving the block): every thread joined and every process waited for within the
  deadline; any still alive fails the test (processes are killed first); exceptions raised in threads are
  re-raised here (one as itself, several as an ``ExceptionGroup``).
- ``run_together(count, work)``: the common case, returns the ``count`` results in order.

``pg_stat_activity`` is a snapshot taken once per transaction: it is watched from a connection of its own in
autocommit mode, so that every poll is a fresh transaction that sees the backends as they are now.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection, connections, transaction

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TIMEOUT = 60.0
POLL = 0.02
_names = itertools.count(1)


def database_url() -> str:
    """The URL of the database the test runs on (the test database, not the configured one)."""
    s = connection.settings_dict
    credentials = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        credentials += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{credentials}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _watcher():
    """A connection of its own, in autocommit: each query sees pg_stat_activity afresh."""
    import psycopg

    return psycopg.connect(database_url(), autocommit=True)


class RaceThread(threading.Thread):
    """A thread on its own database connection; its exception is kept for ``Race.join`` to re-raise."""

    def __init__(self, target: Callable, args: tuple, kwargs: dict):
        super().__init__(name=f"race-thread-{next(_names)}", daemon=True)
        self._work = (target, args, kwargs)
        self.result: Any = None
        self.error: BaseException | None = None
        self.backend_pid: int | None = None
        self.connected = threading.Event()

    def run(self) -> None:
        target, args, kwargs = self._work
        try:
            if connection.vendor == "postgresql":
                connection.ensure_connection()
                self.backend_pid = connection.connection.info.backend_pid
            self.connected.set()
            self.result = target(*args, **kwargs)
        except BaseException as exc:  # re-raised by Race.join, in the test's thread
            self.error = exc
        finally:
            self.connected.set()
            connections.close_all()

    def describe(self) -> str:
        return f"{self.name} (backend {self.backend_pid})"


class Holder:
    """A thread that ran a function inside a transaction it keeps open, holding its locks, until released."""

    def __init__(self, thread: RaceThread, held: threading.Event, released: threading.Event):
        self.thread, self._held, self._released = thread, held, released

    @property
    def result(self) -> Any:
        return self.thread.result

    @property
    def backend_pid(self) -> int | None:
        return self.thread.backend_pid

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def release(self) -> None:
        self._released.set()

    def describe(self) -> str:
        return f"holder {self.thread.describe()}"


class RaceProcess:
    """A real process; its PostgreSQL backends carry ``application_name`` (from ``PGAPPNAME``)."""

    def __init__(self, argv: list[str], *, env: dict | None, cwd: Path, stdout, stderr, timeout: float):
        self.application_name = f"race-process-{os.getpid()}-{next(_names)}"
        self.argv = argv
        self.timeout = timeout
        self.returncode: int | None = None
        self.stdout: str | None = None
        self.stderr: str | None = None
        env = {**os.environ, **(env or {}), "PGAPPNAME": self.application_name}
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, text=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> RaceProcess:
        """Wait for the process to end (reading its output); kill it and fail if it outlives ``timeout``."""
        if self.returncode is not None:
            return self
        try:
            self.stdout, self.stderr = self.popen.communicate(timeout=self.timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.stdout, self.stderr = self.popen.communicate()
            self.returncode = self.popen.returncode
            pytest.fail(
                f"{self.describe()} was still running after {timeout or self.timeout:.0f} s (killed); "
                f"stdout: {self.stdout!r}; stderr: {self.stderr!r}",
                pytrace=False,
            )
        self.returncode = self.popen.returncode
        return self

    def describe(self) -> str:
        return f"process {self.popen.pid} {' '.join(self.argv[1:4])}… ({self.application_name})"


Party = RaceThread | Holder | RaceProcess


class Race:
    """Threads and processes of one test; see the module docstring."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.threads: list[RaceThread] = []
        self.processes: list[RaceProcess] = []
        self.holders: list[Holder] = []
        self._watch = None

    # -- parties -------------------------------------------------------------------------------------

    def thread(self, target: Callable, *args, **kwargs) -> RaceThread:
        """Start ``target(*args, **kwargs)`` in a thread with its own database connection."""
        thread = RaceThread(target, args, kwargs)
        self.threads.append(thread)
        thread.start()
        return thread

    def together(self, count: int, work: Callable[[int], Any]) -> list[RaceThread]:
        """Start ``count`` threads, each running ``work(i)`` once all of them are connected and ready."""
        barrier = threading.Barrier(count)

        def run(i):
            barrier.wait(timeout=self.timeout)
            return work(i)

        return [self.thread(run, i) for i in range(count)]

    def hold(self, target: Callable, *args, **kwargs) -> Holder:
        """Run ``target`` inside ``transaction.atomic()`` in a thread; return once it has returned, with the
        transaction (and every lock it took) still open until ``Holder.release()``."""
        held, released, failed = threading.Event(), threading.Event(), threading.Event()

        def run():
            with transaction.atomic():
                try:
                    result = target(*args, **kwargs)
                except BaseException:
                    failed.set()
                    raise
                finally:
                    held.set()
                if not released.wait(timeout=self.timeout):
                    raise AssertionError(f"the holder was never released within {self.timeout:.0f} s")
                return result

        holder = Holder(self.thread(run), held, released)
        self.holders.append(holder)
        if not held.wait(timeout=self.timeout):
            self._fail_and_stop(f"{holder.describe()} did not get through its work within {self.timeout:.0f} s")
        if failed.is_set():
            holder.thread.join(timeout=self.timeout)
            raise holder.thread.error
        return holder

    def process(self, *manage_args: str, env: dict | None = None) -> RaceProcess:
        """``manage.py *manage_args`` in a real process, against the test database."""
        env = {"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test", **(env or {})}
        return self.popen([sys.executable, "manage.py", *manage_args], env=env)

    def popen(
        self, argv: list[str], *, env: dict | None = None, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) -> RaceProcess:
        process = RaceProcess(argv, env=env, cwd=ROOT, stdout=stdout, stderr=stderr, timeout=self.timeout)
        self.processes.append(process)
        return process

    # -- watching PostgreSQL -------------------------------------------------------------------------

    def _watcher(self):
        if self._watch is None:
            self._watch = _watcher()
        return self._watch

    def _activity(self, parties: tuple[Party, ...]) -> dict[Party, list[tuple]]:
        """``(pid, state, wait_event_type, wait_event, query)`` of each party's backends, in one snapshot."""
        rows = (
            self._watcher()
            .execute(
                "SELECT pid, application_name, state, wait_event_type, wait_event, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            .fetchall()
        )
        found: dict[Party, list[tuple]] = {}
        for party in parties:
            if isinstance(party, RaceProcess):
                found[party] = [row[:1] + row[2:] for row in rows if row[1] == party.application_name]
            else:
                found[party] = [row[:1] + row[2:] for row in rows if row[0] == party.backend_pid]
        return found

    def activity(self, party: Party) -> list[tuple]:
        """The party's backends now: ``(pid, state, wait_event_type, wait_event, query)`` each."""
        return self._activity((party,))[party]

    def wait_until(
        self, predicate: Callable[[], Any], what: str, timeout: float | None = None, poll: float = POLL
    ) -> Any:
        """Poll ``predicate`` until it returns something true (returned); fail at the deadline."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                self._fail_and_stop(f"never saw {what} within {timeout:.0f} s")
            time.sleep(poll)

    def wait_until_blocked(self, *parties: Party, timeout: float | None = None) -> None:
        """Wait until PostgreSQL shows every party's backend waiting on a lock (``wait_event_type = 'Lock'``),
        all in one snapshot. Fails at the deadline, or at once when a party ends without having waited."""
        assert parties, "wait_until_blocked needs the parties that must wait"
        for party in parties:
            if isinstance(party, RaceThread | Holder):
                thread = party.thread if isinstance(party, Holder) else party
                thread.connected.wait(timeout=self.timeout)
                assert thread.backend_pid is not None, f"{party.describe()} has no PostgreSQL backend"
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        last: dict = {}
        while time.monotonic() < deadline:
            last = self._activity(parties)
            if all(any(row[2] == "Lock" for row in rows) for rows in last.values()):
                return
            for party in parties:
                ended = not party.alive() if isinstance(party, RaceProcess) else not _thread_of(party).is_alive()
                if ended and not any(row[2] == "Lock" for row in last[party]):
                    self._fail_and_stop(f"{party.describe()} ended without ever waiting on a lock")
            time.sleep(POLL)
        seen = {party.describe(): rows for party, rows in last.items()}
        self._fail_and_stop(f"not every party was seen waiting on a lock within the deadline; last seen: {seen}")

    def _fail_and_stop(self, message: str):
        for holder in self.holders:
            holder.release()
        for process in self.processes:
            if process.alive():
                process.popen.kill()
        pytest.fail(message, pytrace=False)

    # -- the end -------------------------------------------------------------------------------------

    def finish(self, *threads: RaceThread, timeout: float | None = None) -> list:
        """Join these threads now, before the race ends (so others may still be running or holding): fail if
        one is still alive after ``timeout`` (default the race's), re-raise its exception, return the results."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self._fail_and_stop(f"{thread.describe()} was still running after {timeout or self.timeout:.0f} s")
            if thread.error is not None:
                raise thread.error
        return [thread.result for thread in threads]

    def join(self, timeout: float | None = None) -> None:
        """Join every thread and wait for every process within ``timeout`` (default the race's); fail if any is
        still alive; re-raise the exceptions raised in the threads."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        alive = []
        for process in self.processes:
            if process.returncode is None:
                try:
                    process.stdout, process.stderr = process.popen.communicate(
                        timeout=max(0.0, deadline - time.monotonic())
                    )
                    process.returncode = process.popen.returncode
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.stdout, process.stderr = process.popen.communicate()
                    process.returncode = process.popen.returncode
                    alive.append(f"{process.describe()} (killed); stderr: {process.stderr!r}")
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                alive.append(thread.describe())
        if alive:
            pytest.fail(f"still alive after the race's {self.timeout:.0f} s: {alive}", pytrace=False)
        errors = [thread.error for thread in self.threads if thread.error is not None]
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"{len(errors)} race threads failed", errors)

    def __enter__(self) -> Race:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            forgotten = [holder for holder in self.holders if not holder.released]
            for holder in forgotten:  # never leave a holder waiting for a release that will not come
                holder.release()
            if exc_type is None:
                self.join()
                if forgotten:
                    pytest.fail(f"the test never released {[h.describe() for h in forgotten]}", pytrace=False)
            else:  # the test already failed: stop what is left, report the first failure
                for process in self.processes:
                    if process.alive():
                        process.popen.kill()
                        process.popen.communicate()
                for thread in self.threads:
                    thread.join(timeout=5)
        finally:
            if self._watch is not None:
                self._watch.close()


def _thread_of(party: RaceThread | Holder) -> RaceThread:
    return party.thread if isinstance(party, Holder) else party


def run_together(count: int, work: Callable[[int], Any], timeout: float = DEFAULT_TIMEOUT) -> list:
    """Run ``work(i)`` for ``i`` in ``range(count)`` in threads started together (each on its own connection);
    join them all (failing if any outlives ``timeout``), re-raise their exceptions, return their results."""
    with Race(timeout) as race:
        threads = race.together(count, work)
    return [thread.result for thread in threads]
