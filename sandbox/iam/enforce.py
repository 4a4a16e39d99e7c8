"""IAM enforcement in the sandbox: a call signed with an assumed role's key is authorized as AWS would.

Only keys that moto's STS handed out for AssumeRole (ASIA...) are enforced. Every other key (the sandbox's
own `sandbox`, tests' `testing`, a user's `aws` CLI) stands for an administrator and passes untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

from sandbox.iam import catalog, requests
from sandbox.iam.evaluate import Decision, Policy, Request, StatementRef, evaluate
from sandbox.iam.requests import Principal, UnmappedRequest

PARTITION = "aws"
SESSION_POLICY = "session policy"
_log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Session:
    """An assumed role's session and the policies that decide what it may do."""

    principal: Principal
    role_name: str
    identity: tuple[Policy, ...]  # inline role policies (by name) and attached managed policies (by ARN)
    boundaries: tuple[Policy, ...]  # the role's permissions boundary, if it has one
    session_policies: tuple[Policy, ...]  # the Policy passed to AssumeRole, if any


@dataclass(frozen=True)
class Record:
    """One authorization the sandbox decided, as the Recorder keeps it."""

    action: str
    resource: str
    allowed: bool
    allowed_by: tuple[StatementRef, ...]  # every identity-policy statement that allows it
    denied_by: StatementRef | None = None
    message: str = ""  # AWS's AccessDenied text when denied
    context: Mapping[str, Any] = field(default_factory=dict)  # the request's condition keys


@dataclass
class Recorder:
    """Every decision per role (by role ARN), so tests can show each policy statement is needed."""

    _records: dict[str, list[Record]] = field(default_factory=dict)
    _unmapped: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, role_arn: str, record: Record) -> None:
        """Keep one decision for the role."""
        with self._lock:
            self._records.setdefault(role_arn, []).append(record)

    def unmapped_request(self, description: str) -> None:
        """Keep a request the sandbox could not map to IAM actions (it was denied)."""
        with self._lock:
            self._unmapped.append(description)

    def forget_after(self, role_arn: str, kept: int) -> None:
        """Keep only the role's first `kept` decisions (a test that broke the role on purpose)."""
        with self._lock:
            del self._records.get(role_arn, [])[kept:]

    def reset(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._records.clear()
            self._unmapped.clear()

    def roles(self) -> list[str]:
        """ARNs of the roles that made calls."""
        with self._lock:
            return list(self._records)

    def decisions(self, role: str | None = None) -> list[Record]:
        """The decisions for one role (its ARN or name), or for all roles, in the order they were made."""
        with self._lock:
            return [r for arn, records in self._records.items() if _is_role(arn, role) for r in records]

    def unmapped(self) -> list[str]:
        """Requests (service, operation, why) that could not be mapped to IAM actions."""
        with self._lock:
            return list(self._unmapped)

    def needed(self, role: str | None = None) -> set[StatementRef]:
        """Statements that were the only allower of some allowed request: removing one would deny it."""
        return {r.allowed_by[0] for r in self.decisions(role) if r.allowed and len(r.allowed_by) == 1}

    def used(self, role: str | None = None) -> set[StatementRef]:
        """Statements that allowed at least one request."""
        return {ref for r in self.decisions(role) for ref in r.allowed_by}


def _is_role(arn: str, role: str | None) -> bool:
    return role is None or arn == role or arn.rsplit("/", 1)[-1] == role


@dataclass
class Enforcer:
    """The WSGI middleware: `wrap(app)` answers AccessDenied for what the caller's role may not do."""

    enabled: bool = True
    recorder: Recorder = field(default_factory=Recorder)

    def wrap(self, app: WsgiApp) -> WsgiApp:
        """The app behind, with IAM enforced for assumed roles' calls while `enabled`."""

        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not self.enabled:
                return app(environ, start_response)
            denial = self.check(environ)
            if denial is None:
                return app(environ, start_response)
            status, headers, body = denial
            start_response(status, headers)
            return [body]

        return wsgi

    def authorize(
        self,
        access_key: str,
        action: str,
        resource: str = "*",
        context: Mapping[str, requests.ContextValue] | None = None,
        region: str = "us-east-1",
    ) -> Decision | None:
        """Decide one (action, resource) for an assumed role's key, in process, and record it.

        For what a service does as the role without an API call the sandbox sees: CodePipeline's
        CodeCommit source action needs codecommit:UploadArchive and GetUploadArchiveStatus, which are
        permissions only (https://docs.aws.amazon.com/codecommit/latest/userguide/auth-and-access-control-permissions-reference.html).
        None when the key is no assumed role's (nothing is enforced for it); UnmappedRequest when AWS
        defines no such action. The principal's keys are added to `context`.
        """
        known = catalog.action(action)
        if known is None:
            raise UnmappedRequest(f"AWS defines no IAM action {action}")
        session = session_of(access_key)
        if session is None:
            return None
        full = {**requests.principal_context(session.principal, region), **(context or {})}
        request = Request(session.principal.arn, known.full_name, resource, full)
        state = requests.MotoState(session.principal.account, region)
        decision = decide(session, request, state)
        self._record(session, request, decision)
        return decision

    def _record(self, session: Session, request: Request, decision: Decision) -> None:
        self.recorder.record(
            session.principal.role_arn,
            Record(
                request.action,
                request.resource,
                decision.allowed,
                decision.allowed_by,
                decision.denied_by,
                decision.message(request),
                dict(request.context),
            ),
        )

    def check(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """None when the request may go on; else AWS's AccessDenied answer (status, headers, body).

        Once the caller is known to be an assumed role, a failure of the sandbox's own IAM code denies
        (logged with its traceback): a bug must not let a call through, nor look like AWS failing (a 500
        reads as transient and is retried).
        """
        signature = requests.signature(environ)
        if signature is None or not signature.access_key.startswith("ASIA"):
            return None  # only STS hands out ASIA keys: anything else is not an assumed role
        session = session_of(signature.access_key)
        if session is None:
            return None
        description = (
            f"{signature.service} {environ.get('REQUEST_METHOD', '')} {environ.get('PATH_INFO', '')}"
        )
        try:
            return self._check(environ, session, signature)
        except UnmappedRequest as error:
            self.recorder.unmapped_request(f"{description}: {error}")
            _log.warning(
                "IAM: denied a request the sandbox cannot map to IAM actions: %s: %s", description, error
            )
            message = f"User: {session.principal.arn} is not authorized: the sandbox cannot authorize {error}"
        except Exception as error:
            self.recorder.unmapped_request(f"{description}: {error!r}")
            _log.exception("IAM: the sandbox failed to authorize %s; denied", description)
            message = f"User: {session.principal.arn} is not authorized: the sandbox failed on {error!r}"
        return access_denied(_protocol(environ, signature.service), signature.service, message)

    def _check(
        self, environ: dict[str, Any], session: Session, signature: requests.Signature
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        call = requests.parse(environ)
        state = requests.MotoState(session.principal.account, signature.region)
        denied: tuple[Request, Decision] | None = None
        for authorization in requests.authorization_requests(call, session.principal, state):
            request = Request(
                session.principal.arn, authorization.action, authorization.resource, authorization.context
            )
            decision = decide(session, request, state)
            self._record(session, request, decision)
            if not decision.allowed and denied is None:
                denied = (request, decision)
        if denied is None:
            return None
        request, decision = denied
        return access_denied(call.protocol, call.signature.service, decision.message(request))


def decide(session: Session, request: Request, state: requests.MotoState | None = None) -> Decision:
    """The role's policies (boundary and session policy included) and the resource's, on one request."""
    resource_policies = _resource_policies(request.resource, state)
    try:
        decision = evaluate(request, session.identity, session.boundaries, (), resource_policies)
        if decision.allowed and session.session_policies:
            # A session policy caps the session like a boundary does: it must allow too
            # (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
            capped = evaluate(request, session.session_policies)
            if not capped.allowed:
                kind = capped.policy_type if capped.denied_by is not None else SESSION_POLICY
                return dataclasses.replace(capped, policy_type=kind, allowed_by=decision.allowed_by)
    except ValueError as error:
        # AWS refuses to store such a policy; the sandbox found one in moto's state: deny, and say why.
        _log.warning("IAM: a policy of %s cannot be read: %s", session.role_name, error)
        return Decision(False, "no-allow", "identity-based policy", (), None)
    return decision


def _resource_policies(resource: str, state: requests.MotoState | None) -> tuple[Policy, ...]:
    """The bucket policy of an S3 bucket or object (the one resource-based policy the sandbox reads)."""
    if state is None or not resource.startswith("arn:aws:s3:::"):
        return ()
    bucket = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    try:
        from moto.s3.models import s3_backends

        found = s3_backends[state.account][PARTITION].buckets.get(bucket)
    except (KeyError, AttributeError):
        return ()
    if found is None or not found.policy:
        return ()
    text = found.policy.decode() if isinstance(found.policy, bytes) else str(found.policy)
    return (Policy(f"bucket-policy:{bucket}", json.loads(text)),)


# -- the caller's session, from moto's STS and IAM ---------------------------------------------------


def session_of(access_key: str) -> Session | None:
    """The assumed role's session that owns this access key, with its policies; None for any other key."""
    from moto.sts.models import sts_backends

    for account in list(sts_backends.keys()):
        assumed = sts_backends[account][PARTITION].get_assumed_role_from_access_key(access_key)
        if assumed is not None:
            return _session(assumed)
    return None


def _session(assumed: Any) -> Session:
    from moto.iam.models import iam_backends

    account = str(assumed.account_id)
    role_arn = str(assumed.role_arn)
    role_name = role_arn.rsplit("/", 1)[-1]
    backend = iam_backends[account][PARTITION]
    role = next((r for r in list(backend.roles.values()) if r.arn == role_arn), None)
    # AWS names the session by the role's name without its path.
    principal_arn = f"arn:{PARTITION}:sts::{account}:assumed-role/{role_name}/{assumed.session_name}"
    tags = {t["Key"]: t["Value"] for t in role.tags} if role is not None else {}
    user_id = f"{role.id}:{assumed.session_name}" if role is not None else ""
    principal = Principal(principal_arn, role_arn, account, tags, user_id)
    session_policies = (Policy(SESSION_POLICY, _document(assumed.policy)),) if assumed.policy else ()
    if role is None:
        # A role that does not exist (moto lets anyone assume any ARN) has no policy: nothing is allowed.
        return Session(principal, role_name, (), (), session_policies)
    identity, boundaries = _role_policies(backend, role)
    return Session(principal, role_name, identity, boundaries, session_policies)


def _role_policies(backend: Any, role: Any) -> tuple[tuple[Policy, ...], tuple[Policy, ...]]:
    """A role's identity policies (inline by name, managed by ARN) and its permissions boundary."""
    identity = [Policy(name, _document(text)) for name, text in list(role.policies.items())]
    identity += [Policy(arn, _managed_document(backend, arn)) for arn in list(role.managed_policies)]
    boundaries: tuple[Policy, ...] = ()
    if role.permissions_boundary_arn:
        arn = str(role.permissions_boundary_arn)
        boundaries = (Policy(arn, _managed_document(backend, arn)),)
    return tuple(identity), boundaries


@dataclass(frozen=True)
class Entity:
    """An IAM role or user, with the policies that decide what it may do (for the policy simulator)."""

    arn: str
    identity: tuple[Policy, ...]
    boundaries: tuple[Policy, ...]
    # SimulatePrincipalPolicy's SourcePolicyType of each identity policy: role, user, group (inline),
    # aws-managed or user-managed (botocore's iam model, PolicySourceType).
    source_types: Mapping[str, str] = field(default_factory=dict)


def entity(account: str, arn: str) -> Entity | None:
    """The role or user (with its groups' policies) an ARN names, as IAM holds it; None if none exists."""
    from moto.iam.models import iam_backends

    backend = iam_backends[account][PARTITION]
    kinds: dict[str, str] = {}
    if ":role/" in arn:
        role = next((r for r in list(backend.roles.values()) if r.arn == arn), None)
        if role is None:
            return None
        identity, boundaries = _role_policies(backend, role)
        kinds.update(dict.fromkeys(role.policies, "role"))
    elif ":user/" in arn:
        user = next((u for u in list(backend.users.values()) if u.arn == arn), None)
        if user is None:
            return None
        found = [Policy(name, _document(text)) for name, text in list(user.policies.items())]
        found += [Policy(a, _managed_document(backend, a)) for a in list(user.managed_policies)]
        kinds.update(dict.fromkeys(user.policies, "user"))
        for group in backend.get_groups_for_user(user.name):
            found += [Policy(name, _document(text)) for name, text in list(group.policies.items())]
            found += [Policy(a, _managed_document(backend, a)) for a in list(group.managed_policies)]
            kinds.update(dict.fromkeys(group.policies, "group"))
        identity, boundaries = tuple(found), ()
    else:
        return None
    for policy in identity + boundaries:
        if policy.name.startswith("arn:"):
            kinds[policy.name] = "aws-managed" if ":iam::aws:policy" in policy.name else "user-managed"
    return Entity(arn, identity, boundaries, kinds)


def _document(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    raw = str(text)
    try:
        return json.loads(raw)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        return json.loads(unquote(raw))  # type: ignore[no-any-return]


def _managed_document(backend: Any, arn: str) -> dict[str, Any]:
    """A managed policy's default version; AWS managed ones from moto's copy of them even when unloaded.

    A policy that does not exist allows nothing (as a boundary, it then denies everything).
    """
    policy = backend.managed_policies.get(arn)
    if policy is not None:
        version = next((v for v in policy.versions if v.is_default), policy.versions[-1])
        return _document(version.document)
    document = _aws_managed_policies().get(arn)
    if document is not None:
        return document
    return {"Version": "2012-10-17", "Statement": []}


@functools.cache
def _aws_managed_policies() -> dict[str, dict[str, Any]]:
    """moto ships AWS's managed policies (arn:aws:iam::aws:policy/...), loaded into IAM only on request."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data = json.loads(aws_managed_policies_data)
    return {
        f"arn:{PARTITION}:iam::aws:policy{entry.get('Path', '/')}{name}": entry["Document"]
        for name, entry in data.items()
    }


# -- AWS's AccessDenied, in the call's protocol -------------------------------------------------------

# Services whose query-protocol AccessDenied has another code (botocore's sns model:
# AuthorizationErrorException, code AuthorizationError, HTTP 403).
_QUERY_CODES = {"sns": "AuthorizationError"}


def access_denied(protocol: str, service: str, message: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """AWS's AccessDenied answer, status 403, shaped as the protocol's SDK parsers read errors.

    JSON: `AccessDeniedException` with `message` (SQS, query-compatible, also names its query code
    `AccessDenied` in x-amzn-query-error); rest-json: `AccessDeniedException` (Lambda's shape);
    query: `AccessDenied` (SNS: `AuthorizationError`) in an ErrorResponse; S3's REST-XML: `<Error>`.
    """
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "json":
        code = "AccessDeniedException"
        payload = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        if service == "sqs":
            headers.append(("x-amzn-query-error", "AccessDenied;Sender"))
    elif protocol == "rest-json":
        code = "AccessDeniedException"
        payload = json.dumps({"Type": "User", "message": message, "Message": message}).encode()
        headers += [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif protocol == "rest-xml":
        payload = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()
        headers = [("x-amz-request-id", request_id), ("Content-Type", "application/xml")]
    else:
        code = _QUERY_CODES.get(service, "AccessDenied")
        payload = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    headers.append(("Content-Length", str(len(payload))))
    return "403 Forbidden", headers, payload


def _protocol(environ: Mapping[str, Any], signing_name: str) -> str:
    """The protocol of a request the sandbox could not read, for the shape of its error."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if "Action=" in str(environ.get("QUERY_STRING", "")) or str(environ.get("CONTENT_TYPE", "")).startswith(
        "application/x-www-form-urlencoded"
    ):
        return "query"
    return "rest-xml" if signing_name == "s3" else "rest-json"
