"""A real HTTP receiver on loopback for the webhook tests: a threaded ``http.server`` recording every request."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """``Receiver(fail_first=3)`` answers 500 to its first three requests, then ``status``; ``delay`` seconds
    before each answer. ``requests`` holds ``(headers, body)`` in arrival order."""

    def __init__(self, *, fail_first: int = 0, status: int = 200, delay: float = 0.0, answer: bytes = b"ok"):
        self.fail_first, self.status, self.delay, self.answer = fail_first, status, delay, answer
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    failing = len(receiver.requests) <= receiver.fail_first
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = 500 if failing else receiver.status
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(receiver.answer)))
                    self.end_headers()
                    self.wfile.write(receiver.answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender went away (timed out, or was killed): what it sent is recorded already

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [headers["webhook-id"] for headers, _ in self.requests]
