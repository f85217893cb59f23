"""The emulator process: moto's werkzeug app wrapped by our routes, on a loopback port.

Wrapping (instead of moto's ThreadedMotoServer) lets us put three things in front of moto on the same
port: our control endpoint (/_awsemu/...), the Pricing API moto does not have (X-Amz-Target
AWSPriceListService.*), and the reset hook that clears our fault state after moto's own reset.
"""

from __future__ import annotations

import os

# moto reads these when its backends are created; set them before moto is imported. setdefault lets
# a caller switch one off by exporting it.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AWS managed policies exist
os.environ.setdefault("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")  # unknown types fail
os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")  # unknown AMIs fail, as on AWS

import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable, Iterable  # noqa: E402

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from . import control, pricing_api  # noqa: E402
from .faults import STORE  # noqa: E402
from .iam_audit import AUDIT  # noqa: E402
from .patches import iam_enforce  # noqa: E402
from .patches import install_all  # noqa: E402

RESET_PATH = "/moto-api/reset"
WARM_REGION = "ap-southeast-1"


class EmulatorApp:
    """WSGI app: our routes first, everything else to moto."""

    def __init__(self, moto_app: Callable[..., Iterable[bytes]]):
        self.moto_app = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if path.startswith(control.PREFIX + "/") or path == control.PREFIX:
            return control.handle(Request(environ))(environ, start_response)
        if target.startswith(pricing_api.TARGET_PREFIX):
            request = Request(environ)
            raw = request.get_data()
            refused = iam_enforce.authorize_pricing(DEFAULT_ACCOUNT_ID, request.headers, path or "/", raw,
                                                    target[len(pricing_api.TARGET_PREFIX):])
            status, body = refused or pricing_api.handle(target, raw)
            response = Response(json.dumps(body), status=status, mimetype="application/x-amz-json-1.1")
            return response(environ, start_response)
        if path == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            # moto resets every backend; our seeds come back through the patched constructors.
            body = list(self.moto_app(environ, start_response))
            STORE.clear()
            AUDIT.clear()
            return body
        return self.moto_app(environ, start_response)


class QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def build_app() -> EmulatorApp:
    install_all()
    return EmulatorApp(DomainDispatcherApplication(create_backend_app))


# One harmless request per service the tests use first. Going through the WSGI app (not just the
# backend objects) also builds moto's per-service Flask app and loads botocore's models for
# serialisation, which otherwise cost the first test seconds.
_WARM_REQUESTS = (
    ("ec2", "Action=DescribeInstances&Version=2016-11-15", None),
    ("ssm", "{}", "AmazonSSM.DescribeParameters"),
    ("sqs", "{}", "AmazonSQS.ListQueues"),
    ("events", "{}", "AWSEvents.ListRules"),
    ("iam", "Action=ListRoles&Version=2010-05-08", None),
)


def warm_up(app: "EmulatorApp") -> None:
    from werkzeug.test import Client

    client = Client(app)
    for service, body, target in _WARM_REQUESTS:
        region = "us-east-1" if service == "iam" else WARM_REGION
        headers = {
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0",
            "Content-Type": "application/x-amz-json-1.1" if target else "application/x-www-form-urlencoded",
        }
        if target:
            headers["X-Amz-Target"] = target
        response = client.post("/", data=body, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"warm-up {service} failed: HTTP {response.status_code} {response.get_data()[:300]!r}")


def _write_port_file(path: str, port: int) -> None:
    # Written whole then renamed: a reader never sees a partial number.
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def _watch_pid(pid: int, stop: threading.Event) -> None:
    """Stop when `pid` is gone: a test runner killed with SIGKILL must not leave us behind."""
    while not stop.wait(1.0):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"awsemu: watched process {pid} is gone, stopping", file=sys.stderr, flush=True)
            stop.set()
        except PermissionError:
            pass  # exists, owned by someone else


def serve(host: str, port: int, port_file: str | None, quiet: bool, warm: bool,
          watch_pid: int | None = None) -> int:
    started = time.monotonic()
    app = build_app()
    if warm:
        warm_up(app)
    server = make_server(
        host, port, app, threaded=True, request_handler=QuietHandler if quiet else MotoRequestHandler
    )
    # Idle keep-alive connections (boto3 pools them) must not hold the process open on SIGTERM.
    server.daemon_threads = True
    server.block_on_close = False
    actual_port = int(server.server_address[1])
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="awsemu-http", daemon=True)
    thread.start()
    if watch_pid:
        threading.Thread(target=_watch_pid, args=(watch_pid, stop), name="awsemu-watch", daemon=True).start()
    if port_file:
        _write_port_file(port_file, actual_port)
    print(
        f"awsemu: listening on http://{host}:{actual_port} (ready in {time.monotonic() - started:.2f}s)",
        file=sys.stderr,
        flush=True,
    )
    stop.wait()
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    if port_file:
        try:
            os.unlink(port_file)
        except FileNotFoundError:
            pass
    print("awsemu: stopped", file=sys.stderr, flush=True)
    return 0
