"""Our HTTP control endpoint, served on the emulator's own port under /_awsemu/.

  GET    /_awsemu/health                 -> {"ok": true}
  GET    /_awsemu/faults                 -> {"faults": [...]}
  POST   /_awsemu/faults   (JSON object) -> 201 {"fault": {...}}   (a list of objects is accepted too)
  DELETE /_awsemu/faults                 -> {"cleared": n}
  DELETE /_awsemu/faults/<id>            -> 204, or 404
  GET    /_awsemu/prices?region=R&instance_type=T[&zone=Z]
                                         -> the formula's prices, for tests that want to know the order
Faults are described in faults.py; POST /moto-api/reset clears them too.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from . import catalog, prices
from .faults import STORE, FaultError

PREFIX = "/_awsemu"


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _faults(request: Request, rest: str) -> Response:
    if rest == "":
        if request.method == "GET":
            return _json({"faults": [f.to_json() for f in STORE.list()]})
        if request.method == "DELETE":
            count = len(STORE.list())
            STORE.clear()
            return _json({"cleared": count})
        if request.method == "POST":
            try:
                body = json.loads(request.get_data() or b"null")
            except json.JSONDecodeError as err:
                return _error(f"body is not JSON: {err}")
            specs = body if isinstance(body, list) else [body]
            try:
                added = [STORE.add(spec) for spec in specs]
            except FaultError as err:
                return _error(str(err))
            if isinstance(body, list):
                return _json({"faults": [f.to_json() for f in added]}, 201)
            return _json({"fault": added[0].to_json()}, 201)
        return _error(f"method {request.method} not allowed", 405)
    if request.method == "DELETE" and rest.strip("/").isdigit():
        if STORE.remove(int(rest.strip("/"))):
            return Response(status=204)
        return _error(f"no fault {rest.strip('/')}", 404)
    return _error(f"unknown path {PREFIX}/faults{rest}", 404)


def _prices(request: Request) -> Response:
    region = request.args.get("region", "")
    instance_type = request.args.get("instance_type", "")
    shape = catalog.shape(instance_type)
    if shape is None:
        return _error(f"unknown instance_type {instance_type!r}", 404)
    zones = [request.args["zone"]] if "zone" in request.args else sorted(
        catalog.zones_offering(region, instance_type)
    )
    return _json({
        "instance_type": instance_type,
        "on_demand": prices.on_demand_price(shape),
        "spot": {z: prices.spot_price(shape, z) for z in zones},
    })


def handle(request: Request) -> Response:
    path = request.path[len(PREFIX):]
    if path == "/health":
        return _json({"ok": True})
    if path == "/faults" or path.startswith("/faults/"):
        return _faults(request, path[len("/faults"):])
    if path == "/prices" and request.method == "GET":
        return _prices(request)
    return _error(f"unknown path {request.path}", 404)
