"""An HTTP pass-through to the moto server that can hold back one kind of request (a slow AWS
endpoint, so an apply stays in flight long enough to interrupt it) or fail every n-th request
with a 503 the way AWS does when it is overloaded. Every other request reaches the real moto
server and is answered by it."""

import http.client
import itertools
import threading
from urllib.parse import parse_qs
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class SlowProxy:
    def __init__(self, upstream: str):
        self.upstream = urlparse(upstream)
        self.hold_after = None  # (trigger action, held action)
        self.armed = False
        self.held = threading.Event()  # set while a request is being held
        self.release = threading.Event()
        self.fail_every = 0  # 0: never
        self.failed = 0
        self._count = itertools.count(1)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = self.headers.get("X-Amz-Target")
                # JSON protocols name the action in a header, query protocols (IAM, EC2) in the form.
                action = target.split(".")[-1] if target else \
                    parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
                if proxy._should_fail():
                    self._unavailable(json_protocol=bool(target))
                    return
                proxy._maybe_hold(action)
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream.netloc
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def _unavailable(self, json_protocol: bool):
                if json_protocol:
                    data, kind = b'{"__type":"ServiceUnavailable","message":"injected by the test proxy"}', \
                        "application/x-amz-json-1.0"
                else:
                    data, kind = (b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>"
                                  b"<Message>injected by the test proxy</Message></Error></ErrorResponse>"), "text/xml"
                self.send_response(503)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def hold(self, after: str, action: str):
        """Hold every `action` request seen after an `after` request until release()."""
        self.hold_after = (after, action)
        self.armed = False
        self.release.clear()

    def _should_fail(self) -> bool:
        if self.fail_every and next(self._count) % self.fail_every == 0:
            self.failed += 1
            return True
        return False

    def _maybe_hold(self, action: str):
        if not self.hold_after:
            return
        trigger, held = self.hold_after
        if action == trigger:
            self.armed = True
        elif action == held and self.armed:
            self.held.set()
            self.release.wait(timeout=120)

    def stop_holding(self):
        self.hold_after = None
        self.release.set()

    def close(self):
        self.stop_holding()
        self.server.shutdown()
