"""Webhook delivery throughput: one deliverer, a loopback receiver, ``events`` events. Used by ``bench/run.py``.

    .venv/bin/python bench/webhooks.py [--events 2000] [--pg postgres://postgres@127.0.0.1:5432]
                                       [--database-url URL]

``measure(events=2000, database_url=None)`` (call it in a process of its own: it sets Django up):

1. Starts the receiver in a child process (so its CPU is not the deliverer's): a threaded ``http.server`` on
   127.0.0.1 speaking HTTP/1.1 keep-alive, answering every POST ``200 ok`` at once and counting them.
2. On a migrated database (``database_url``; by default ``DATABASE_URL``), creates an organization of its own
   (unique slug), one endpoint for the receiver (every type) and ``events`` events in one batch, two per object
   (``obligation:<n>`` created then approved, so per-object order is part of the work).
3. Runs the real delivery loop (``webhooks.delivery.deliver``, batch 50, the ``deliver_webhooks`` default) in
   this process until nothing is pending: fan-out to deliveries, claims, Standard Webhooks signing, the
   address check, the HTTP request, the attempt row. ``webhook_wall_seconds`` is that wall time,
   ``webhook_cpu_seconds`` this process's CPU meanwhile (Python: signing, ORM, httpx; the database server's CPU
   is not counted), ``webhook_events_per_second`` = events / wall seconds.
4. Checks the result: every delivery succeeded and the receiver got exactly ``events`` requests (a
   ``BenchFailure`` otherwise). The organization's rows are deleted afterwards.

Run alone (``__main__``), it creates a fresh database ``bench_run_<pid>_<start>_webhooks`` (the naming of
``bench/run.py``, unique to the run) on the PostgreSQL server, migrates it, measures, prints the figures as
JSON and drops the database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH_SIZE = 50
EVENTS_PER_OBJECT = 2


class BenchFailure(Exception):
    """The run's figures cannot be trusted (a delivery failed, or the receiver's count is wrong)."""


def _serve(port_queue) -> None:
    """The receiver (child process): 200 to every POST, ``GET /count`` answers how many POSTs came."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the deliverer's client reuses its connection
        disable_nagle_algorithm = True

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            received[0] += 1
            self._answer(b"ok")

        def do_GET(self):
            self._answer(str(received[0]).encode())

        def _answer(self, body: bytes):
            # One write (status line, headers and body together): written apart, Nagle's algorithm and the
            # client's delayed ACK would add ~40 ms to every answer.
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _received(port: int) -> int:
    from http.client import HTTPConnection

    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/count")
    count = int(connection.getresponse().read())
    connection.close()
    return count


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DEBUG"] = "false"
    # The receiver is on loopback over plain http: allowed here as in development (private ranges stay refused).
    os.environ["WEBHOOKS_ALLOW_HTTP"] = "true"
    os.environ["WEBHOOKS_ALLOW_LOOPBACK"] = "true"
    import django

    django.setup()


def measure(events: int = 2000, database_url: str | None = None) -> dict:
    """Deliver ``events`` events to a loopback receiver with one deliverer; the figures (see the module doc)."""
    if events < 1:
        raise ValueError("events must be at least 1")
    context = multiprocessing.get_context("spawn")  # started before Django opens any connection
    ports = context.Queue()
    receiver = context.Process(target=_serve, args=(ports,), daemon=True)
    receiver.start()
    try:
        port = ports.get(timeout=30)
        _django(database_url or os.environ.get("DATABASE_URL", ""))
        return _measure(events, port)
    finally:
        receiver.terminate()
        receiver.join(timeout=10)


def _measure(events: int, port: int) -> dict:
    from django.db import connection

    from events.services import event_record_many
    from organizations.models import Organization
    from webhooks.delivery import deliver
    from webhooks.models import DeliveryStatus, WebhookDelivery
    from webhooks.services import endpoint_create

    organization = Organization.objects.create(
        name="Bench webhooks", slug=f"bench-webhooks-{os.getpid()}-{int(time.time())}", timezone="UTC"
    )
    try:
        endpoint, _ = endpoint_create(organization=organization, url=f"http://127.0.0.1:{port}/hook")
        # Two events per object, in order (as the apps record an obligation created, then approved).
        items = [
            (f"obligation:{n // EVENTS_PER_OBJECT}", {"id": n // EVENTS_PER_OBJECT, "value": 1000, "step": n % 2})
            for n in range(events)
        ]
        event_record_many(organization_id=organization.pk, type="obligation.approved", items=items)
        load = os.getloadavg()
        cpu_started, started = time.process_time(), time.perf_counter()
        rounds = sent = 0
        while True:
            report = deliver(batch_size=BATCH_SIZE)
            rounds += 1
            sent += report.sent
            deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
            pending = deliveries.filter(status=DeliveryStatus.PENDING).count()
            if not pending and deliveries.count() == events:
                break
            if rounds > events:
                raise BenchFailure(f"{pending} deliveries still pending after {rounds} rounds")
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        succeeded = WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.SUCCEEDED).count()
        received = _received(port)
        if succeeded != events or received != events or sent != events:
            raise BenchFailure(f"{events} events: {succeeded} succeeded, {sent} sent, {received} received")
        return {
            "webhook_events_per_second": round(events / wall, 1),
            "webhook_cpu_seconds": round(cpu, 3),
            "webhook_wall_seconds": round(wall, 3),
            "webhook_events": events,
            "webhook_batch_size": BATCH_SIZE,
            "webhook_database": connection.vendor,
            "webhook_load_avg": [round(value, 2) for value in load],
        }
    finally:
        organization.delete()  # its events, endpoint, deliveries and attempts go with it


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server for a fresh database")
    parser.add_argument("--database-url", default=None, help="measure on this migrated database instead")
    args = parser.parse_args()
    if args.database_url:
        print(json.dumps(measure(args.events, args.database_url), indent=2))
        return 0
    from bench.run import fresh_database

    with fresh_database(args.pg, "webhooks") as url:
        print(json.dumps(measure(args.events, url), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
