"""Helpers of the proofs: compare engine results across runs, check that nothing is half written."""

from distributions.models import Allocation, Distribution
from obligations.models import Obligation


def results_snapshot() -> dict:
    """Every triggered distribution and its shares, by natural keys, so that two runs can be compared."""
    distributions = {
        (d.distributor_id, d.trigger_date.isoformat()): (d.status, d.pool, d.value, d.unallocated, d.rolled_over)
        for d in Distribution.objects.all()
    }
    shares = sorted(
        Allocation.objects.values_list(
            "distribution__distributor_id", "distribution__trigger_date", "collaborator_id", "value", "score", "rank"
        )
    )
    return {"distributions": distributions, "shares": shares}


def assert_nothing_half_written() -> None:
    """A distribution is untouched (pending, nothing allocated) or fully triggered (shares add up)."""
    for distribution in Distribution.objects.all():
        allocated = sum(Allocation.objects.filter(distribution=distribution).values_list("value", flat=True))
        if distribution.status == "pending":
            assert distribution.pool is None and allocated == 0, distribution
        else:
            assert distribution.pool is not None and allocated == distribution.value, distribution
    # Every obligation a distribution created belongs to an allocation, and vice versa (one-to-one).
    assert not Obligation.objects.filter(award_type="distribution", allocation__isnull=True).exists()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(race, env: dict, *, workers: int, threads: int) -> int:
    """gunicorn on a free loopback port under ``race`` (which ends it with the test); return the port once it
    listens. ``env`` is added to the test database's settings (``DATABASE_URL``, ``config.settings.test``)."""
    import socket
    import subprocess
    import sys

    import pytest

    from tests.races import database_url

    port = free_port()
    env = {"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings.test", **env}
    argv = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(workers), "--threads", str(threads), "--log-level", "warning"]
    process = race.popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def listening() -> bool:
        if not process.alive():
            pytest.fail(f"gunicorn exited: {process.wait().stdout}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    race.wait_until(listening, f"gunicorn listening on port {port}", poll=0.1)
    race.gunicorn = process
    return port
