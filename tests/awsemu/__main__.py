"""CLI: python -m awsemu serve --port 0 --port-file F   (with PYTHONPATH=tests)."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="awsemu", description="moto server extended for karpenter-rs tests")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the emulator until SIGTERM/SIGINT")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    serve.add_argument("--port-file", help="write the bound port here once ready to serve")
    serve.add_argument("--quiet", action="store_true", help="do not log each request")
    serve.add_argument("--no-warm", action="store_true", help="skip creating backends before ready")
    serve.add_argument("--watch-pid", type=int, help="stop when this process no longer exists")
    args = parser.parse_args(argv)
    if args.command == "serve":
        # Imported here: the server module sets moto's environment before moto is imported.
        from .server import serve as run

        code = run(args.host, args.port, args.port_file, args.quiet, not args.no_warm, args.watch_pid)
        # The server is closed and the port file removed; tearing down moto's large in-memory
        # data (instance types, policies, offerings) would add ~3 s to every stop for nothing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return 2


if __name__ == "__main__":
    sys.exit(main())
