"""IAM authorisation of requests signed by IAM principals: STS role sessions and IAM users.

Why: moto answers every request, whoever signed it, unless INITIAL_NO_AUTH_ACTION_COUNT switches on
its own check for *every* caller; and that check is both too kind and too harsh for a least-privilege
policy: it matches Action only (a statement scoped to ARNs never matches its resource "*"), and a
Condition it cannot fill turns an Allow into a Deny. A controller tested against that proves nothing
about the policy the provider installs.

What we do instead, in front of every moto action (and our Pricing API), recording every decision
in iam_audit.AUDIT:
  - A request signed with an access key that the account's IAM knows (an STS session of a role, as
    the controller gets from AssumeRoleWithWebIdentity, or an IAM user's key) is the principal's:
    its SigV4 signature is verified (moto's code) and every authorisation the request needs is
    evaluated against the principal's identity policies (inline and attached) by iam_policy.py.
  - Any other key is the account's root user (the harness, Terraform with static keys): allowed,
    as root is on AWS. Unsigned requests (AssumeRoleWithWebIdentity) are not authorised by IAM.
  - A request needs one check per resource it touches, with the context keys AWS documents:
    CreateFleet: the launch template (its tags), image, subnets and security groups,
    and each resource it creates (fleet, instance, volume, network-interface) with the tags the
    request and the launch template give it, plus ec2:CreateTags with ec2:CreateAction for the
    tagging on create and iam:PassRole for the instance profile's role; CreateFleet also needs
    ec2:RunInstances. TerminateInstances, DeleteLaunchTemplate, CreateTags: each resource with its
    tags. SQS actions: the queue (batch actions need the single action, as on AWS). SSM: the
    parameter (public /aws/service parameters have no account in their ARN). EKS: the cluster.
    Everything else: "*". Every check carries aws:RequestedRegion and aws:PrincipalArn.
  - A refusal answers in the service's protocol: EC2 UnauthorizedOperation (403), JSON services
    AccessDeniedException, query services AccessDenied, naming the principal, action and resource.
Not modelled: resource-based policies, permission boundaries, SCPs, session policies,
spot-instances-request as a created resource, and the resources of RunInstances (checked against
"*", so a policy that scopes RunInstances by resource is refused it; nothing here calls it).
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import unquote

from moto.core.exceptions import JsonRESTError, _RESTError
from moto.core.responses import BaseResponse
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from .. import iam_policy
from ..iam_audit import AUDIT
from .fleet import tags_by_resource
from ..iam_policy import Check, Decision

PARTITION = "aws"
# Services whose errors are JSON even for a bodiless GET.
REST_JSON_SERVICES = {"eks"}

Checks = list[Check]


class Principal:
    def __init__(self, arn: str, documents: list[dict[str, Any]]):
        self.arn = arn
        self.documents = documents


def _document(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        text = unquote(raw) if isinstance(raw, str) and raw.lstrip().startswith("%7B") else raw
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _managed_documents(policies: Any) -> list[dict[str, Any]]:
    out = []
    for policy in policies.values():
        for version in getattr(policy, "versions", []):
            if version.is_default and (doc := _document(version.document)) is not None:
                out.append(doc)
    return out


def _inline_documents(policies: dict[str, str]) -> list[dict[str, Any]]:
    return [d for d in (_document(p) for p in policies.values()) if d is not None]


def principal_for(account: str, access_key_id: str) -> Principal | None:
    """The IAM principal that owns this key, or None for a key IAM does not know (root)."""
    iam = iam_backends[account][PARTITION]
    for session in sts_backends[account][PARTITION].assumed_roles:
        if session.access_key_id != access_key_id:
            continue
        role_name = session.role_arn.split("/")[-1]
        role = next((r for r in iam.roles.values() if r.name == role_name), None)
        documents = [] if role is None else (
            _inline_documents(role.policies) + _managed_documents(role.managed_policies)
        )
        arn = f"arn:{PARTITION}:sts::{account}:assumed-role/{role_name}/{session.session_name}"
        return Principal(arn, documents)
    for user in iam.users.values():
        if any(k.access_key_id == access_key_id and k.status == "Active" for k in user.access_keys):
            documents = _inline_documents(user.policies) + _managed_documents(user.managed_policies)
            for group in iam.get_groups_for_user(user.name):
                documents += _inline_documents(group.policies)
                documents += _managed_documents(group.managed_policies)
            return Principal(user.arn, documents)
    return None


def _access_key_id(headers: Any) -> str | None:
    auth = headers.get("Authorization") or ""
    if not auth.startswith("AWS4-HMAC-SHA256"):
        return None
    credential = auth.partition("Credential=")[2].partition(",")[0]
    return credential.split("/")[0] or None


def _signing_scope(headers: Any) -> tuple[str, str]:
    credential = (headers.get("Authorization") or "").partition("Credential=")[2].partition(",")[0]
    parts = credential.split("/")
    return (parts[2], parts[3]) if len(parts) >= 4 else ("", "")


# --- the checks a request needs --------------------------------------------------------------


def _ec2_arn(region: str, account: str, kind: str, ident: str) -> str:
    if kind in ("image", "snapshot"):
        return f"arn:{PARTITION}:ec2:{region}::{kind}/{ident}"
    return f"arn:{PARTITION}:ec2:{region}:{account}:{kind}/{ident}"


_EC2_ID_PREFIXES = {
    "i-": "instance", "lt-": "launch-template", "vol-": "volume", "fleet-": "fleet",
    "eni-": "network-interface", "sg-": "security-group", "subnet-": "subnet", "ami-": "image",
    "snap-": "snapshot", "vpc-": "vpc", "sir-": "spot-instances-request",
}


def _kind_of(resource_id: str) -> str:
    for prefix, kind in _EC2_ID_PREFIXES.items():
        if resource_id.startswith(prefix):
            return kind
    return "unknown"


def _tag_context(prefix: str, tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {f"{prefix}/{k}".lower(): (v,) for k, v in tags.items()}


def _resource_tags(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {**_tag_context("aws:resourcetag", tags), **_tag_context("ec2:resourcetag", tags)}


def _request_tags(tags: dict[str, str]) -> dict[str, tuple[str, ...]]:
    ctx = _tag_context("aws:requesttag", tags)
    if tags:
        ctx["aws:tagkeys"] = tuple(tags)
    return ctx


def _ec2_tags(backend: Any, resource_id: str) -> dict[str, str]:
    return dict(backend.tags.get(resource_id, {}))


class _Request:
    """What the checks read from one moto response object."""

    def __init__(self, response: BaseResponse, region: str, principal: Principal):
        self.response = response
        self.region = region
        self.account = response.current_account
        self.base = {"aws:requestedregion": (region,), "aws:principalarn": (principal.arn,)}

    def param(self, name: str, default: Any = None) -> Any:
        return self.response._get_param(name, default)

    def check(self, action: str, resource: str, *contexts: dict[str, tuple[str, ...]]) -> Check:
        merged = dict(self.base)
        for context in contexts:
            merged.update(context)
        return Check(action, resource, merged)


def _launch_template(backend: Any, spec: dict[str, Any]) -> Any | None:
    try:
        if spec.get("LaunchTemplateId"):
            return backend.get_launch_template(spec["LaunchTemplateId"])
        if spec.get("LaunchTemplateName"):
            return backend.get_launch_template_by_name(spec["LaunchTemplateName"])
    except Exception:  # moto raises its own not-found errors; moto answers those itself
        return None
    return None


def _template_data(template: Any, version: Any) -> dict[str, Any]:
    try:
        if version in (None, "", "$Default"):
            return template.default_version().data
        if version == "$Latest":
            return template.latest_version().data
        return template.get_version(version).data
    except Exception:
        return {}


def _profile_roles(account: str, profile: dict[str, Any] | None) -> list[Any]:
    if not profile:
        return []
    iam = iam_backends[account][PARTITION]
    try:
        if profile.get("Arn"):
            return list(iam.get_instance_profile_by_arn(profile["Arn"]).roles)
        if profile.get("Name"):
            return list(iam.get_instance_profile(profile["Name"]).roles)
    except Exception:  # an unknown profile is refused by the launch itself
        return []
    return []


def _create_fleet(req: _Request) -> Checks:
    """CreateFleet needs ec2:RunInstances as well, on the same resources."""
    backend = req.response.ec2_backend
    actions = ["ec2:CreateFleet", "ec2:RunInstances"]
    checks: Checks = []
    tagged: dict[str, dict[str, str]] = {}
    roles: list[Any] = []
    for config in req.param("LaunchTemplateConfigs", []) or []:
        spec = config.get("LaunchTemplateSpecification") or {}
        subnets = [o["SubnetId"] for o in config.get("Overrides") or [] if o.get("SubnetId")]
        template = _launch_template(backend, spec)
        data = {} if template is None else _template_data(template, spec.get("Version"))
        for a in actions:
            if template is not None:
                checks.append(req.check(a, _ec2_arn(req.region, req.account, "launch-template", template.id),
                                        _resource_tags(_ec2_tags(backend, template.id))))
            if data.get("ImageId"):
                checks.append(req.check(a, _ec2_arn(req.region, req.account, "image", data["ImageId"])))
            groups = list(data.get("SecurityGroupIds") or [])
            for nic in data.get("NetworkInterfaces") or []:
                groups.extend(nic.get("Groups") or [])
            for group in groups:
                checks.append(req.check(a, _ec2_arn(req.region, req.account, "security-group", group)))
            for subnet in subnets:
                checks.append(req.check(a, _ec2_arn(req.region, req.account, "subnet", subnet)))
        for kind, tags in tags_by_resource(data.get("TagSpecifications")).items():
            tagged.setdefault(kind, {}).update(tags)
        roles += _profile_roles(req.account, data.get("IamInstanceProfile"))
    for kind, tags in tags_by_resource(req.param("TagSpecifications", [])).items():
        tagged.setdefault(kind, {}).update(tags)
    for kind in ("fleet", "instance", "volume", "network-interface"):
        arn = _ec2_arn(req.region, req.account, kind, "*")
        tags = tagged.get(kind, {})
        for a in actions:
            checks.append(req.check(a, arn, _request_tags(tags)))
        if tags:
            checks.append(req.check("ec2:CreateTags", arn, _request_tags(tags),
                                    {"ec2:createaction": ("CreateFleet",)}))
    for role in roles:
        checks.append(req.check("iam:PassRole", role.arn, {"iam:passedtoservice": ("ec2.amazonaws.com",)}))
    return checks


def _create_launch_template(req: _Request) -> Checks:
    arn = _ec2_arn(req.region, req.account, "launch-template", "*")
    tags = tags_by_resource(req.param("TagSpecifications", [])).get("launch-template", {})
    checks = [req.check("ec2:CreateLaunchTemplate", arn, _request_tags(tags))]
    if tags:
        checks.append(req.check("ec2:CreateTags", arn, _request_tags(tags),
                                {"ec2:createaction": ("CreateLaunchTemplate",)}))
    return checks


def _per_resource(action: str, ids: list[str], req: _Request, extra: dict[str, tuple[str, ...]] | None = None) -> Checks:
    backend = req.response.ec2_backend
    return [
        req.check(action, _ec2_arn(req.region, req.account, _kind_of(i), i),
                  _resource_tags(_ec2_tags(backend, i)), extra or {})
        for i in ids
    ]


def _terminate_instances(req: _Request) -> Checks:
    return _per_resource("ec2:TerminateInstances", req.param("InstanceIds") or req.param("InstanceId") or [], req)


def _delete_launch_template(req: _Request) -> Checks:
    template = _launch_template(req.response.ec2_backend, {
        "LaunchTemplateId": req.param("LaunchTemplateId"),
        "LaunchTemplateName": req.param("LaunchTemplateName"),
    })
    ids = [template.id] if template is not None else []
    return _per_resource("ec2:DeleteLaunchTemplate", ids, req) or [
        req.check("ec2:DeleteLaunchTemplate", _ec2_arn(req.region, req.account, "launch-template", "*"))
    ]


def _tag_pairs(req: _Request) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in req.param("Tags") or req.param("Tag") or []}


def _create_tags(req: _Request) -> Checks:
    ids = req.param("Resources") or req.param("ResourceId") or []
    return _per_resource("ec2:CreateTags", ids, req, _request_tags(_tag_pairs(req)))


def _delete_tags(req: _Request) -> Checks:
    ids = req.param("Resources") or req.param("ResourceId") or []
    keys = tuple(_tag_pairs(req))
    return _per_resource("ec2:DeleteTags", ids, req, {"aws:tagkeys": keys} if keys else {})


# SQS authorises a batch call as its single action.
_SQS_ACTION = {
    "DeleteMessageBatch": "DeleteMessage",
    "SendMessageBatch": "SendMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(req: _Request, action: str) -> Checks:
    url = req.param("QueueUrl")
    if url:
        name = url.rstrip("/").split("/")[-1]
        owner = url.rstrip("/").split("/")[-2] if url.count("/") >= 4 else req.account
    elif req.param("QueueName"):
        name, owner = req.param("QueueName"), req.param("QueueOwnerAWSAccountId") or req.account
    else:
        return [req.check(f"sqs:{_SQS_ACTION.get(action, action)}", "*")]
    arn = f"arn:{PARTITION}:sqs:{req.region}:{owner}:{name}"
    return [req.check(f"sqs:{_SQS_ACTION.get(action, action)}", arn)]


def _ssm_arn(req: _Request, name: str) -> str:
    path = name if name.startswith("/") else f"/{name}"
    if path.startswith("/aws/service/"):
        return f"arn:{PARTITION}:ssm:{req.region}::parameter{path}"
    return f"arn:{PARTITION}:ssm:{req.region}:{req.account}:parameter{path}"


def _ssm(req: _Request, action: str) -> Checks:
    names = [req.param("Name")] if req.param("Name") else list(req.param("Names") or [])
    if action == "GetParametersByPath" and req.param("Path"):
        names = [req.param("Path")]
    if not names:
        return [req.check(f"ssm:{action}", "*")]
    return [req.check(f"ssm:{action}", _ssm_arn(req, n)) for n in names]


def _eks(req: _Request, action: str) -> Checks:
    uri = getattr(req.response, "uri_match", None) or {}
    name = uri.get("name") or req.param("name")
    if not name:
        return [req.check(f"eks:{action}", "*")]
    return [req.check(f"eks:{action}", f"arn:{PARTITION}:eks:{req.region}:{req.account}:cluster/{name}")]


def _iam(req: _Request, action: str) -> Checks:
    if action == "GetInstanceProfile" and req.param("InstanceProfileName"):
        arn = f"arn:{PARTITION}:iam::{req.account}:instance-profile/{req.param('InstanceProfileName')}"
        return [req.check("iam:GetInstanceProfile", arn)]
    return [req.check(f"iam:{action}", "*")]


_EC2: dict[str, Callable[[_Request], Checks]] = {
    "CreateFleet": _create_fleet,
    "CreateLaunchTemplate": _create_launch_template,
    "DeleteLaunchTemplate": _delete_launch_template,
    "TerminateInstances": _terminate_instances,
    "CreateTags": _create_tags,
    "DeleteTags": _delete_tags,
}


def checks_for(req: _Request, service: str, action: str) -> Checks:
    if service == "ec2" and action in _EC2:
        return _EC2[action](req)
    if service == "sqs":
        return _sqs(req, action)
    if service == "ssm":
        return _ssm(req, action)
    if service == "eks":
        return _eks(req, action)
    if service == "iam":
        return _iam(req, action)
    return [req.check(f"{service}:{action}", "*")]


# --- refusals in each protocol ---------------------------------------------------------------


class _Ec2Unauthorized(_RESTError):
    code = 403

    def __init__(self, message: str):
        super().__init__("UnauthorizedOperation", message)
        self.description = (
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
            f"<Code>UnauthorizedOperation</Code><Message>{_xml(message)}</Message></Error></Errors>"
            "<RequestID>awsemu-iam</RequestID></Response>"
        )


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def refusal_message(principal_arn: str, check: Check, decision: Decision) -> str:
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {check.action} action"
    )
    return f"User: {principal_arn} is not authorized to perform: {check.action} on resource: {check.resource} {why}"


def refusal(service: str, json_protocol: bool, message: str) -> _RESTError:
    if service == "ec2":
        return _Ec2Unauthorized(f"You are not authorized to perform this operation. {message}")
    if json_protocol:
        error = JsonRESTError("AccessDeniedException", message)
        error.code = 403 if service == "eks" else 400
        return error
    error = _RESTError("AccessDenied", message)
    error.code = 403
    return error


def _decide(principal: Principal, checks: Checks) -> tuple[Check, Decision] | None:
    """Every check decided and recorded (the audit must show everything a request needed, not
    only up to its first refusal); the first refusal, if any."""
    refused = None
    for check in checks:
        decision = iam_policy.decide(principal.documents, check)
        AUDIT.record(principal.arn, check, decision)
        if refused is None and decision is not Decision.ALLOW:
            refused = check, decision
    return refused


def authorize(response: BaseResponse) -> _RESTError | None:
    """None when the request may proceed; otherwise the error to answer with."""
    headers = response.headers
    key = _access_key_id(headers)
    if key is None:
        return None
    principal = principal_for(response.current_account, key)
    if principal is None:
        return None
    region, service = _signing_scope(headers)
    action = response._get_action()
    json_protocol = (bool(headers.get("X-Amz-Target")) or "json" in (headers.get("Content-Type") or "")
                     or service in REST_JSON_SERVICES)
    path = response.raw_path
    query = response.uri.partition("?")[2] if "?" in response.uri else ""
    if query:
        path += "?" + query
    # moto re-signs `data` when it has no raw body (it parsed a form POST into `data`); a bodiless
    # GET (EKS DescribeCluster) was signed over an empty payload, not over the parameters moto
    # parsed from its path.
    bodiless = response.method in ("GET", "HEAD", "DELETE") and not response.raw_body
    bad_signature = _signature_error(response.current_account, response.method, path,
                                     "" if bodiless else response.data, response.raw_body, headers, action)
    if bad_signature is not None:
        return bad_signature
    if (service, action) == ("sts", "GetCallerIdentity"):
        return None
    refused = _decide(principal, checks_for(_Request(response, region, principal), service, action))
    if refused is None:
        return None
    check, decision = refused
    return refusal(service, json_protocol, refusal_message(principal.arn, check, decision))


def authorize_pricing(account: str, headers: Any, path: str, body: bytes, action: str) -> tuple[int, dict] | None:
    """The same for our Pricing API, which answers before moto sees the request (JSON protocol;
    Price List actions have no resource-level permissions): None, or (status, error body)."""
    key = _access_key_id(headers)
    principal = principal_for(account, key) if key is not None else None
    if principal is None:
        return None
    region, _ = _signing_scope(headers)
    bad_signature = _signature_error(account, "POST", path, body.decode(errors="replace"), body, headers, action)
    if bad_signature is not None:
        return bad_signature.code, {"__type": bad_signature.error_type, "message": bad_signature.message}
    base = {"aws:requestedregion": (region,), "aws:principalarn": (principal.arn,)}
    refused = _decide(principal, [Check(f"pricing:{action}", "*", base)])
    if refused is None:
        return None
    check, decision = refused
    return 400, {"__type": "AccessDeniedException", "message": refusal_message(principal.arn, check, decision)}


def _signature_error(account: str, method: str, path: str, data: Any, body: Any, headers: Any,
                     action: str) -> _RESTError | None:
    from moto.iam.access_control import IAMRequest

    try:
        request = IAMRequest(account_id=account, method=method, path=path, data=data, body=body,
                             headers=headers, action=action)
        request.check_signature()
    except _RESTError as error:
        return error
    return None


def install() -> None:
    original = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        error = authorize(self)
        if error is None:
            return original(self)
        # As moto answers its own authentication errors.
        response = error.get_body(), {"status": error.code, **dict(error.get_headers())}
        status, headers, body = self._transform_response(self.response_headers, response)
        headers, body = self._enrich_response(headers, body)
        return status, headers, body

    BaseResponse.call_action = call_action
