"""Our HTTP control endpoint, served on the emulator's own port under /_awsemu/.

  GET    /_awsemu/health                 -> {"ok": true}
  GET    /_awsemu/faults                 -> {"faults": [...]}
  POST   /_awsemu/faults   (JSON object) -> 201 {"fault": {...}}   (a list of objects is accepted too)
  DELETE /_awsemu/faults                 -> {"cleared": n}
  DELETE /_awsemu/faults/<id>            -> 204, or 404
  GET    /_awsemu/prices?region=R&instance_type=T[&zone=Z]
                                         -> the formula's prices, for tests that want to know the order
  PUT    /_awsemu/eks-clusters/<name>  {"region", "endpoint", "certificateAuthority", "serviceIpv4Cidr"[, "version"]}
                                         -> 200 {"arn": ...}: an ACTIVE EKS cluster whose DescribeCluster answers
                                            with these coordinates (moto would invent an endpoint and CA), so
                                            controllers discover the local cluster the way they discover EKS
  GET    /_awsemu/iam-audit[?principal=S] -> {"checks": [...], "dropped": n}: every authorisation decided for
                                            IAM principals whose ARN contains S (iam_audit.py)
  DELETE /_awsemu/iam-audit              -> {"cleared": n}
  PUT    /_awsemu/launch-templates/<region>/<name>/created  {"secondsAgo": n}
                                         -> 200: the template (and its versions) created n seconds ago, so
                                            a test sees what a controller does with an old template
Faults are described in faults.py; POST /moto-api/reset clears them and the IAM audit too.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from . import catalog, prices
from .faults import STORE, FaultError
from .iam_audit import AUDIT

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


_CLUSTER_FIELDS = ("region", "endpoint", "certificateAuthority", "serviceIpv4Cidr")


def _eks_cluster(request: Request, name: str) -> Response:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.eks.models import eks_backends

    if request.method != "PUT":
        return _error(f"method {request.method} not allowed", 405)
    try:
        body = json.loads(request.get_data() or b"null")
    except json.JSONDecodeError as err:
        return _error(f"body is not JSON: {err}")
    missing = [f for f in _CLUSTER_FIELDS if not isinstance(body, dict) or not body.get(f)]
    if not name or missing:
        return _error(f"a cluster needs a name and {', '.join(missing) or 'nothing more'}")
    backend = eks_backends[DEFAULT_ACCOUNT_ID][body["region"]]
    cluster = backend.clusters.get(name)
    if cluster is None:
        cluster = backend.create_cluster(
            name=name,
            role_arn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/eks-cluster-{name}",
            resources_vpc_config={},
            version=body.get("version"),
            kubernetes_network_config={"serviceIpv4Cidr": body["serviceIpv4Cidr"]},
        )
    cluster.endpoint = body["endpoint"]
    cluster.certificate_authority = {"data": body["certificateAuthority"]}
    cluster.kubernetes_network_config = {"serviceIpv4Cidr": body["serviceIpv4Cidr"], "ipFamily": "ipv4"}
    cluster.status = "ACTIVE"
    return _json({"arn": cluster.arn})


def _iam_audit(request: Request) -> Response:
    if request.method == "GET":
        return _json(AUDIT.to_json(request.args.get("principal", "")))
    if request.method == "DELETE":
        return _json({"cleared": AUDIT.clear()})
    return _error(f"method {request.method} not allowed", 405)


def _launch_template_created(request: Request, rest: str) -> Response:
    from datetime import timedelta

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    region, _, name = rest.removesuffix("/created").partition("/")
    if request.method != "PUT" or not rest.endswith("/created"):
        return _error(f"unknown {request.method} {request.path}", 404)
    try:
        body = json.loads(request.get_data() or b"null")
        seconds = int(body["secondsAgo"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        return _error(f"body must be {{\"secondsAgo\": <int>}}: {err}")
    backend = ec2_backends[DEFAULT_ACCOUNT_ID][region]
    template = next((t for t in backend.launch_templates.values() if t.name == name), None)
    if template is None:
        return _error(f"no launch template {name!r} in {region}", 404)
    # moto answers some calls with the template's time and others with its versions'.
    for obj in [template, *template.versions]:
        obj.create_time -= timedelta(seconds=seconds)
    return _json({"id": template.id})


def handle(request: Request) -> Response:
    path = request.path[len(PREFIX):]
    if path == "/health":
        return _json({"ok": True})
    if path == "/faults" or path.startswith("/faults/"):
        return _faults(request, path[len("/faults"):])
    if path == "/prices" and request.method == "GET":
        return _prices(request)
    if path == "/iam-audit":
        return _iam_audit(request)
    if path.startswith("/launch-templates/"):
        return _launch_template_created(request, path[len("/launch-templates/"):])
    if path.startswith("/eks-clusters/"):
        return _eks_cluster(request, path[len("/eks-clusters/"):])
    return _error(f"unknown path {request.path}", 404)
