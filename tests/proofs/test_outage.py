"""Clean failures against a real gunicorn on PostgreSQL: the database going away mid-service answers 503 JSON
with Retry-After (never a 500) and the service recovers by itself; HEAD answers carry no body, so a
keep-alive connection stays in step; the throttle holds across worker processes.

The database server the rest of the suite uses is never stopped: gunicorn reaches it through a TCP relay
in this process, and the outage is the relay going down (listener closed, every relayed connection cut,
as a network partition or a failover does), then coming back."""

import contextlib
import json
import socket
import threading
from http.client import HTTPConnection
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.factories import ApiKeyFactory, OrganizationFactory
from tests.proofs.helpers import free_port, start_gunicorn
from tests.races import Race, database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Relay:
    """A TCP relay from a local port to the database server, which the test can take down and bring back."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def up(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            if self.listener is not None:
                with contextlib.suppress(OSError):
                    self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
                self.listener.close()
                self.listener = None
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def relay():
    url = urlsplit(database_url())
    relay = Relay((url.hostname, url.port or 5432))
    relay.up()
    yield relay
    relay.down()


def relayed_database_url(relay: Relay) -> str:
    url = urlsplit(database_url())
    netloc = (
        url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{relay.port}" if "@" in url.netloc else f"127.0.0.1:{relay.port}"
    )
    return urlunsplit(url._replace(netloc=netloc))


@pytest.fixture
def server(relay):
    with Race(timeout=30) as race:
        yield start_gunicorn(
            race, {"DATABASE_URL": relayed_database_url(relay), "API_THROTTLE_RATE": "off"}, workers=1, threads=2
        )  # gthread: keep-alive
        race.gunicorn.popen.terminate()


def get(conn: HTTPConnection, path: str, secret: str, method: str = "GET"):
    conn.request(method, path, headers={"Authorization": f"Bearer {secret}"})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_a_lost_database_is_a_503_with_retry_after_and_the_service_recovers(server, relay):
    secret = ApiKeyFactory(organization=OrganizationFactory(slug="outage")).secret
    conn = HTTPConnection("127.0.0.1", server, timeout=20)
    assert get(conn, "/api/v1/distributions", secret)[0] == 200

    relay.down()
    answers = [get(conn, "/api/v1/distributions", secret) for _ in range(3)]
    for status, headers, body in answers:
        assert status == 503, body
        assert headers["Retry-After"] == "5" and headers["Content-Type"] == "application/json"
        assert json.loads(body) == {"message": "The database is unavailable; nothing was changed. Retry shortly."}
    status, _, body = get(conn, "/readyz", secret)
    assert status == 503 and json.loads(body)["database"] == "unavailable"
    assert get(conn, "/healthz", secret)[0] == 200  # alive: the process itself is fine

    relay.up()
    assert get(conn, "/api/v1/distributions", secret)[0] == 200  # recovered by itself, same connection


def test_head_answers_carry_no_body_on_a_keep_alive_connection(server):
    port = server
    secret = ApiKeyFactory(organization=OrganizationFactory(slug="head")).secret
    auth = f"Authorization: Bearer {secret}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"HEAD /api/v1/distributions HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        head, _, extra = head.partition(b"\r\n\r\n")
        sock.settimeout(1.0)
        with contextlib.suppress(TimeoutError):
            extra += sock.recv(65536)  # a body would arrive here
        assert head.startswith(b"HTTP/1.1 200"), head
        assert extra == b"", extra[:200]
        assert b"content-length: 2" in head.lower()  # the GET's length ("[]"), as RFC 9110 allows

        # The connection is still in step: the next answer starts with its status line.
        sock.settimeout(20)
        sock.sendall(f"GET /api/v1/distributions HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


@pytest.fixture
def two_workers():
    """gunicorn with two worker processes sharing the database throttle store, at 10 requests a minute."""
    with Race(timeout=60) as race:
        yield start_gunicorn(race, {"THROTTLE_CACHE": "db", "API_THROTTLE_RATE": "10/min"}, workers=2, threads=1)
        race.gunicorn.popen.terminate()


def test_the_rate_holds_across_worker_processes(two_workers):
    secret = ApiKeyFactory(organization=OrganizationFactory(slug="rate")).secret
    statuses = []
    for _ in range(30):  # a new connection each time: the kernel spreads them over both workers
        conn = HTTPConnection("127.0.0.1", two_workers, timeout=20)
        statuses.append(get(conn, "/api/v1/distributions", secret)[0])
        conn.close()
    assert statuses.count(200) == 10, statuses  # per-process counts would let up to 20 through
    assert statuses.count(429) == 20
