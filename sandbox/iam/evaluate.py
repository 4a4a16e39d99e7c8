"""AWS IAM policy evaluation for one same-account request, as the IAM User Guide documents it."""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

IDENTITY_POLICY = "identity-based policy"
PERMISSIONS_BOUNDARY = "permissions boundary"
SERVICE_CONTROL_POLICY = "service control policy"
RESOURCE_POLICY = "resource-based policy"

ALLOWED = "allowed"
EXPLICIT_DENY = "explicit-deny"
NO_ALLOW = "no-allow"

# The article AWS puts before each policy type in "with an explicit deny in a ..." messages.
_WITH_ARTICLE = {
    IDENTITY_POLICY: "an identity-based policy",
    PERMISSIONS_BOUNDARY: "a permissions boundary",
    SERVICE_CONTROL_POLICY: "a service control policy",
    RESOURCE_POLICY: "a resource-based policy",
}


@dataclass(frozen=True)
class Policy:
    """A parsed IAM policy document and where it comes from."""

    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Request:
    """One authorization request: who, what, on which resource, with which condition keys."""

    principal: str
    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class StatementRef:
    """Points at one statement of one policy."""

    policy: str
    sid: str
    index: int


@dataclass(frozen=True)
class Decision:
    """The outcome of `evaluate`, with what decided it.

    ``reason`` is "allowed", "explicit-deny" or "no-allow" (an implicit deny); ``policy_type`` names
    the kind of policy that denied ("identity-based policy", "permissions boundary", "service control
    policy" or "resource-based policy"), "" when allowed.
    """

    allowed: bool
    reason: str
    policy_type: str
    allowed_by: tuple[StatementRef, ...]
    denied_by: StatementRef | None

    def message(self, request: Request) -> str:
        """AWS's AccessDenied message for this decision, or "" when the request is allowed.

        The wording is that of https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html;
        AWS leaves out " on resource: ..." for actions that have no resource type (resource "*").
        """
        if self.allowed:
            return ""
        on_resource = "" if request.resource == "*" else f" on resource: {request.resource}"
        head = f"User: {request.principal} is not authorized to perform: {request.action}{on_resource}"
        if self.reason == EXPLICIT_DENY:
            return f"{head} with an explicit deny in {_WITH_ARTICLE[self.policy_type]}"
        return f"{head} because no {self.policy_type} allows the {request.action} action"


def evaluate(
    request: Request,
    identity: Sequence[Policy],
    boundaries: Sequence[Policy] = (),
    scps: Sequence[Policy] = (),
    resource_policies: Sequence[Policy] = (),
) -> Decision:
    """Decide a same-account request the way AWS's enforcement code does.

    The order is AWS's (reference_policies_evaluation-logic_policy-eval-denyallow.html): an explicit
    Deny in any policy wins; then the SCPs (when any are given) must allow; then a resource-based
    policy can allow on its own, depending on the principal it names; otherwise an identity-based
    policy must allow and the permissions boundary (when one is given) must allow too.

    Resource-based policies and principals (access_policies_boundaries.html):

    - naming the caller's own ARN (an IAM user, a role session such as
      ``arn:aws:sts::111122223333:assumed-role/R/s``, a federated user session), a service principal
      the caller is, or ``"*"``, grants directly: neither an identity-based policy nor the permissions
      boundary is needed;
    - naming the role ARN (``arn:aws:iam::111122223333:role/path/R``) of a role session stands in for
      the identity-based policy, but the permissions boundary must still allow;
    - naming the account (``111122223333`` or ``arn:aws:iam::111122223333:root``) delegates to the
      account: the identity-based policies decide as if the resource policy were not there.

    ``boundaries`` are the policies of the entity's permissions boundary and ``scps`` those that apply
    to its account, taken as one level: an Allow in any of them is enough. Leaving either empty means
    there is none, so nothing to pass.

    ``allowed_by`` lists every identity-based statement that allows the request, whatever the final
    decision; ``denied_by`` is the explicit Deny statement that decided, if one did. Every policy is
    checked before anything is decided, so a malformed document raises ValueError even when another
    policy would decide first.
    """
    caller = _Caller.parse(request.principal)
    context = _Context.of(request, caller)
    identity_statements = _parse_all(identity, resource_based=False)
    boundary_statements = _parse_all(boundaries, resource_based=False)
    scp_statements = _parse_all(scps, resource_based=False)
    resource_statements = _parse_all(resource_policies, resource_based=True)
    has_boundary = bool(boundaries)

    def applies(statement: _Statement) -> bool:
        return statement.matches(request, context)

    allowed_by = tuple(s.ref for s in identity_statements if s.effect == "Allow" and applies(s))

    # When several types deny, AWS names only one (troubleshoot_access-denied.html); this is the
    # order in which the evaluation logic page lists the policies it searches for a Deny.
    by_type = (
        (SERVICE_CONTROL_POLICY, scp_statements),
        (RESOURCE_POLICY, resource_statements),
        (IDENTITY_POLICY, identity_statements),
        (PERMISSIONS_BOUNDARY, boundary_statements),
    )
    for policy_type, statements in by_type:
        for statement in statements:
            if statement.effect != "Deny" or not applies(statement):
                continue
            if statement.principals is None or statement.denies(caller, context, has_boundary):
                return Decision(False, EXPLICIT_DENY, policy_type, allowed_by, statement.ref)

    if scps and not any(s.effect == "Allow" and applies(s) for s in scp_statements):
        return Decision(False, NO_ALLOW, SERVICE_CONTROL_POLICY, allowed_by, None)

    grant = _Grant.NONE
    for statement in resource_statements:
        if statement.effect == "Allow" and applies(statement):
            grant = max(grant, statement.grant(caller, context))
    if grant == _Grant.DIRECT:
        return Decision(True, ALLOWED, "", allowed_by, None)

    # "All requests are implicitly denied with the exception of the AWS account root user, which has
    # full access" (policy-eval-denyallow page): only explicit denies and SCPs hold it back.
    identity_allows = bool(allowed_by) or grant == _Grant.ROLE or caller.kind == _Caller.ROOT
    if not identity_allows:
        return Decision(False, NO_ALLOW, IDENTITY_POLICY, allowed_by, None)
    if has_boundary and not any(s.effect == "Allow" and applies(s) for s in boundary_statements):
        return Decision(False, NO_ALLOW, PERMISSIONS_BOUNDARY, allowed_by, None)
    return Decision(True, ALLOWED, "", allowed_by, None)


# ---------------------------------------------------------------------------------------------------
# The caller and the request context


@dataclass(frozen=True)
class _Caller:
    """What the principal ARN says about the caller."""

    USER = "user"
    ROLE_SESSION = "role-session"
    FEDERATED = "federated-user"
    ROOT = "root"
    SERVICE = "service"
    OTHER = "other"

    arn: str
    kind: str
    account: str
    role_name: str

    @classmethod
    def parse(cls, principal: str) -> _Caller:
        """Read the account, and the role a session belongs to, from an ARN as AWS prints it."""
        parts = principal.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            kind = cls.SERVICE if principal.endswith(".amazonaws.com") else cls.OTHER
            return cls(principal, kind, "", "")
        service, account, resource = parts[2], parts[4], parts[5]
        if service == "iam" and resource == "root":
            return cls(principal, cls.ROOT, account, "")
        if service == "iam" and resource.startswith("user/"):
            return cls(principal, cls.USER, account, "")
        if service == "sts" and resource.startswith("assumed-role/"):
            role_and_session = resource.split("/")
            return cls(principal, cls.ROLE_SESSION, account, role_and_session[1])
        if service == "sts" and resource.startswith("federated-user/"):
            return cls(principal, cls.FEDERATED, account, "")
        return cls(principal, cls.OTHER, account, "")


class _Context:
    """Condition keys by lower-cased name (AWS's key names are case-insensitive) -> their values."""

    def __init__(self, values: dict[str, tuple[str, ...]]) -> None:
        self._values = values

    @classmethod
    def of(cls, request: Request, caller: _Caller) -> _Context:
        """The request's keys, plus those AWS always derives from the principal when they are missing."""
        values: dict[str, tuple[str, ...]] = {}
        if caller.account:
            values["aws:principalaccount"] = (caller.account,)
        if caller.kind in (_Caller.USER, _Caller.ROOT):
            values["aws:principalarn"] = (caller.arn,)
        if caller.kind == _Caller.USER:
            values["aws:username"] = (caller.arn.rsplit("/", 1)[1],)
        for key, value in request.context.items():
            values[key.lower()] = (value,) if isinstance(value, str) else tuple(value)
        return cls(values)

    def values(self, key: str) -> tuple[str, ...] | None:
        """The key's values; None when it is absent, or present with no values (a null data set)."""
        found = self._values.get(key.lower())
        return found or None

    def variable(self, key: str) -> str | None:
        """The value a policy variable takes: only a single-valued key can be one."""
        found = self._values.get(key.lower())
        if found is None or len(found) != 1:
            return None
        return found[0]


# ---------------------------------------------------------------------------------------------------
# Policy variables and wildcards

# A policy string after variable substitution: runs of text, each either written in the policy
# (where * and ? are wildcards for the matchers that have them) or literal (a substituted value,
# or one of ${*} ${?} ${$}, which never act as wildcards).
_Parts = tuple[tuple[str, bool], ...]

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*(?P<key>[^,]+?)\s*,\s*'(?P<default>[^']*)'\s*$")
_SPECIAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}


def _substitute(text: str, context: _Context, variables: bool) -> _Parts | None:
    """Replace the ${...} policy variables in `text`; None when one has no value and no default.

    Only documents with Version 2012-10-17 have variables; in older ones ${...} is plain text
    (reference_policies_variables.html).
    """
    if not variables:
        return ((text, False),)
    parts: list[tuple[str, bool]] = []
    position = 0
    for found in _VARIABLE.finditer(text):
        if found.start() > position:
            parts.append((text[position : found.start()], False))
        position = found.end()
        inner = found.group(1)
        if inner in _SPECIAL_VARIABLES:
            parts.append((_SPECIAL_VARIABLES[inner], True))
            continue
        with_default = _DEFAULT.match(inner)
        key = with_default.group("key") if with_default else inner.strip()
        value = context.variable(key)
        if value is None and with_default:
            value = with_default.group("default")
        if value is None:
            return None
        parts.append((value, True))
    if position < len(text):
        parts.append((text[position:], False))
    return tuple(parts)


def _joined(parts: _Parts) -> str:
    return "".join(text for text, _ in parts)


def _characters(parts: _Parts) -> list[tuple[str, bool]]:
    return [(character, literal) for text, literal in parts for character in text]


@functools.lru_cache(maxsize=4096)
def _glob(parts: _Parts, ignore_case: bool) -> re.Pattern[str]:
    """StringLike and Action matching: * is any run of characters, ? any one character."""
    pattern = []
    for character, literal in _characters(parts):
        if not literal and character == "*":
            pattern.append(".*")
        elif not literal and character == "?":
            pattern.append(".")
        else:
            pattern.append(re.escape(character))
    return re.compile("".join(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@functools.lru_cache(maxsize=4096)
def _resource_glob(parts: _Parts) -> re.Pattern[str]:
    """Resource matching: wildcards stay within a colon-separated segment, except that a * ending a
    segment can expand past the colons after it (reference_policies_elements_resource.html), so
    "arn:aws:s3:::*" and "*" match every resource they could name.
    """
    characters = _characters(parts)
    pattern = []
    for position, (character, literal) in enumerate(characters):
        following = characters[position + 1][0] if position + 1 < len(characters) else ":"
        if not literal and character == "*":
            pattern.append(".*" if following == ":" else "[^:]*")
        elif not literal and character == "?":
            pattern.append("[^:]")
        else:
            pattern.append(re.escape(character))
    return re.compile("".join(pattern), re.DOTALL)


def _arn_like(value: str, parts: _Parts) -> bool:
    """ArnEquals/ArnLike: each of the six colon-separated components is matched on its own
    (reference_policies_elements_condition_operators.html#Conditions_ARN), so a * in the region
    cannot swallow the account that follows.
    """
    pattern_components = _split_parts(parts, 6)
    if len(pattern_components) < 6:
        # Fewer components ("*", "arn:aws:sns:*") leave only the Resource element's rule to go by.
        return _resource_glob(parts).fullmatch(value) is not None
    value_components = value.split(":", 5)
    if len(value_components) != 6:
        return False
    return all(
        _glob(component, False).fullmatch(text) is not None
        for component, text in zip(pattern_components, value_components, strict=True)
    )


def _split_parts(parts: _Parts, components: int) -> list[_Parts]:
    """Split policy text on its written (not substituted) colons, into at most `components` pieces."""
    pieces: list[list[tuple[str, bool]]] = [[]]
    for character, literal in _characters(parts):
        if character == ":" and not literal and len(pieces) < components:
            pieces.append([])
        else:
            pieces[-1].append((character, literal))
    return [tuple(piece) for piece in pieces]


# ---------------------------------------------------------------------------------------------------
# Condition operators


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


_PARTIAL_DATE = re.compile(r"\d{4}-\d{2}")
_EPOCH = re.compile(r"-?\d+(\.\d+)?")


def _date(text: str) -> datetime | None:
    """A W3C ISO 8601 date or date-time, or epoch seconds; a time without zone is UTC."""
    stripped = text.strip()
    if _EPOCH.fullmatch(stripped):
        try:
            return datetime.fromtimestamp(float(stripped), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if _PARTIAL_DATE.fullmatch(stripped):
        stripped += "-01"
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR range; an address without a prefix is a /32 (or /128) range."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _compare_numbers(test: Callable[[Decimal, Decimal], bool]) -> Callable[[str, _Parts], bool]:
    def compare(value: str, parts: _Parts) -> bool:
        have, want = _decimal(value), _decimal(_joined(parts))
        return have is not None and want is not None and test(have, want)

    return compare


def _compare_dates(test: Callable[[datetime, datetime], bool]) -> Callable[[str, _Parts], bool]:
    def compare(value: str, parts: _Parts) -> bool:
        have, want = _date(value), _date(_joined(parts))
        return have is not None and want is not None and test(have, want)

    return compare


def _in_network(value: str, parts: _Parts) -> bool:
    network = _network(_joined(parts))
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return network is not None and address in network


def _same_binary(value: str, parts: _Parts) -> bool:
    have, want = _binary(value), _binary(_joined(parts))
    return have is not None and have == want


@dataclass(frozen=True)
class _Operator:
    """One condition operator: how a request value is compared with one policy value."""

    compare: Callable[[str, _Parts], bool]
    negated: bool
    # Policy variables work with the string, ARN and Bool operators only
    # (reference_policies_elements_condition_operators.html).
    variables: bool
    check: Callable[[str], bool] | None = None


def _string(negated: bool, compare: Callable[[str, _Parts], bool]) -> _Operator:
    return _Operator(compare, negated, variables=True)


def _numeric(negated: bool, test: Callable[[Decimal, Decimal], bool]) -> _Operator:
    return _Operator(_compare_numbers(test), negated, False, lambda text: _decimal(text) is not None)


def _dated(negated: bool, test: Callable[[datetime, datetime], bool]) -> _Operator:
    return _Operator(_compare_dates(test), negated, False, lambda text: _date(text) is not None)


def _string_equals(value: str, parts: _Parts) -> bool:
    return value == _joined(parts)


def _string_equals_ignore_case(value: str, parts: _Parts) -> bool:
    return value.casefold() == _joined(parts).casefold()


def _string_like(value: str, parts: _Parts) -> bool:
    return _glob(parts, False).fullmatch(value) is not None


def _bool_equals(value: str, parts: _Parts) -> bool:
    return value.strip().lower() == _joined(parts).strip().lower()


def _is_bool(text: str) -> bool:
    return text.lower() in ("true", "false") or "${" in text


def _is_network(text: str) -> bool:
    return _network(text) is not None


_OPERATORS: dict[str, _Operator] = {
    "StringEquals": _string(False, _string_equals),
    "StringNotEquals": _string(True, _string_equals),
    "StringEqualsIgnoreCase": _string(False, _string_equals_ignore_case),
    "StringNotEqualsIgnoreCase": _string(True, _string_equals_ignore_case),
    "StringLike": _string(False, _string_like),
    "StringNotLike": _string(True, _string_like),
    "NumericEquals": _numeric(False, lambda have, want: have == want),
    "NumericNotEquals": _numeric(True, lambda have, want: have == want),
    "NumericLessThan": _numeric(False, lambda have, want: have < want),
    "NumericLessThanEquals": _numeric(False, lambda have, want: have <= want),
    "NumericGreaterThan": _numeric(False, lambda have, want: have > want),
    "NumericGreaterThanEquals": _numeric(False, lambda have, want: have >= want),
    "DateEquals": _dated(False, lambda have, want: have == want),
    "DateNotEquals": _dated(True, lambda have, want: have == want),
    "DateLessThan": _dated(False, lambda have, want: have < want),
    "DateLessThanEquals": _dated(False, lambda have, want: have <= want),
    "DateGreaterThan": _dated(False, lambda have, want: have > want),
    "DateGreaterThanEquals": _dated(False, lambda have, want: have >= want),
    "Bool": _Operator(_bool_equals, False, True, _is_bool),
    "BinaryEquals": _Operator(_same_binary, False, False, lambda text: _binary(text) is not None),
    "IpAddress": _Operator(_in_network, False, False, _is_network),
    "NotIpAddress": _Operator(_in_network, True, False, _is_network),
    "ArnEquals": _string(False, _arn_like),
    "ArnLike": _string(False, _arn_like),
    "ArnNotEquals": _string(True, _arn_like),
    "ArnNotLike": _string(True, _arn_like),
}

_SET_QUALIFIERS = ("ForAllValues", "ForAnyValue")


@dataclass(frozen=True)
class _Condition:
    """One key under one operator, with the policy's values for it."""

    operator: str
    qualifier: str
    if_exists: bool
    key: str
    values: tuple[str, ...]

    def holds(self, context: _Context, variables: bool) -> bool:
        """Whether the request satisfies this condition
        (reference_policies_elements_condition_operators.html and the pages on multiple values).
        """
        present = context.values(self.key)
        if self.qualifier and present is not None and not any(present):
            # "if the key values resolve to a null data set, such as an empty string"
            # (reference_policies_condition-single-vs-multi-valued-context-keys.html)
            present = None
        if self.operator == "Null":
            # "true": the key must be absent; "false": it must be there. Several values: any.
            return any((value.lower() == "true") == (present is None) for value in self.values)
        if present is None:
            if self.if_exists:
                return True
            if self.qualifier == "ForAllValues":
                return True
            if self.qualifier == "ForAnyValue":
                return False
            # A missing key matches nothing, so a negated operator holds.
            return _OPERATORS[self.operator].negated
        operator = _OPERATORS[self.operator]
        wanted = [_substitute(value, context, variables and operator.variables) for value in self.values]

        def matches(value: str) -> bool:
            # A policy value whose variable has no value equals nothing, so it never matches.
            return any(parts is not None and operator.compare(value, parts) for parts in wanted)

        def satisfies(value: str) -> bool:
            # Several policy values: OR for an operator, NOR for a negated one.
            return not matches(value) if operator.negated else matches(value)

        if self.qualifier == "ForAllValues":
            return all(satisfies(value) for value in present)
        if self.qualifier == "ForAnyValue":
            return any(satisfies(value) for value in present)
        # Without a set operator a multivalued key is taken as a whole: it matches when any of
        # its values does, and a negated operator holds only when none does.
        matched = any(matches(value) for value in present)
        return not matched if operator.negated else matched


def _parse_conditions(element: object, where: str) -> tuple[_Condition, ...]:
    if not isinstance(element, Mapping):
        raise ValueError(f"{where}: Condition must be an object of operators")
    conditions = []
    for full_name, keys in element.items():
        qualifier, _, operator = str(full_name).rpartition(":")
        if qualifier and qualifier not in _SET_QUALIFIERS:
            raise ValueError(f"{where}: unknown condition set operator {qualifier!r} in {full_name!r}")
        if_exists = operator.endswith("IfExists") and operator != "IfExists"
        base = operator.removesuffix("IfExists") if if_exists else operator
        if base == "Null":
            if if_exists or qualifier:
                raise ValueError(f"{where}: Null takes neither IfExists nor a set operator: {full_name!r}")
        elif base not in _OPERATORS:
            raise ValueError(f"{where}: unknown condition operator {full_name!r}")
        if not isinstance(keys, Mapping) or not keys:
            raise ValueError(f"{where}: {full_name} must map condition keys to values")
        for key, raw_values in keys.items():
            values = _condition_values(raw_values, f"{where}: {full_name} {key}")
            _check_condition_values(base, values, f"{where}: {full_name} {key}")
            conditions.append(_Condition(base, qualifier, if_exists, str(key), values))
    return tuple(conditions)


def _condition_values(raw: object, where: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            values.append(str(item))
        else:
            raise ValueError(f"{where}: a condition value must be a string, number or boolean, not {item!r}")
    if not values:
        raise ValueError(f"{where}: no condition values")
    return tuple(values)


def _is_null_value(text: str) -> bool:
    return text.lower() in ("true", "false")


def _check_condition_values(operator: str, values: tuple[str, ...], where: str) -> None:
    check = _is_null_value if operator == "Null" else _OPERATORS[operator].check
    for value in values:
        if check is not None and not check(value):
            raise ValueError(f"{where}: {value!r} is not a valid value for {operator}")


# ---------------------------------------------------------------------------------------------------
# Principals


class _Grant:
    """How far a resource-based Allow reaches, weakest first, so that max() picks the strongest."""

    NONE = 0
    ACCOUNT = 1  # delegates to the account: identity-based policies decide
    ROLE = 2  # the role ARN: replaces the identity-based policy, the boundary still applies
    DIRECT = 3  # the caller itself: nothing else needs to allow


_PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_ACCOUNT_ID = re.compile(r"\d{12}")
_ACCOUNT_ARN = re.compile(r"arn:[^:]+:iam::(\d{12}):root")


@dataclass(frozen=True)
class _Principals:
    """A Principal or NotPrincipal element: (type, value) entries, "*" meaning everyone."""

    entries: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, element: object, where: str) -> _Principals:
        if element == "*":
            return cls((("AWS", "*"),))
        if not isinstance(element, Mapping) or not element:
            raise ValueError(f'{where}: a principal must be "*" or an object such as {{"AWS": ...}}')
        entries = []
        for principal_type, raw in element.items():
            if principal_type not in _PRINCIPAL_TYPES:
                raise ValueError(f"{where}: unknown principal type {principal_type!r}")
            for value in _strings(raw, f"{where}: {principal_type}"):
                if "*" in value and value != "*":
                    # "You cannot use a wildcard to match part of a principal name or ARN."
                    raise ValueError(f"{where}: wildcard in principal {value!r}")
                entries.append((str(principal_type), value))
        return cls(tuple(entries))

    def names(self, caller: _Caller, context: _Context) -> int:
        """The strongest grant among the entries that name the caller (_Grant.NONE if none does)."""
        grant = _Grant.NONE
        for principal_type, value in self.entries:
            if value in ("*", caller.arn):
                return _Grant.DIRECT
            if principal_type != "AWS":
                continue
            if _account_of(value) == caller.account and caller.account:
                grant = max(grant, _Grant.ACCOUNT)
            elif _is_callers_role(value, caller, context):
                grant = max(grant, _Grant.ROLE)
        return grant

    def covers_every_identity(self, caller: _Caller, context: _Context) -> bool:
        """Whether the entries name the caller, its role and its account all at once.

        For NotPrincipal with Deny, AWS "might validate the account first, then the role, and then
        the assumed-role user" (reference_policies_elements_notprincipal.html): leaving out any of
        them may deny the caller through it, so only naming all of them exempts it.
        """
        named = self.entries
        if any(value == "*" for _, value in named):
            return True
        own = any(value == caller.arn for _, value in named)
        if caller.kind in (_Caller.SERVICE, _Caller.OTHER):
            return own
        account = any(t == "AWS" and _account_of(v) == caller.account for t, v in named)
        role = caller.kind != _Caller.ROLE_SESSION or any(
            t == "AWS" and _is_callers_role(v, caller, context) for t, v in named
        )
        return (own or caller.kind == _Caller.ROOT) and account and role

    def names_any_identity(self, caller: _Caller, context: _Context) -> bool:
        """Whether any entry names the caller, its role or its account."""
        return self.names(caller, context) != _Grant.NONE


def _account_of(value: str) -> str | None:
    if _ACCOUNT_ID.fullmatch(value):
        return value
    found = _ACCOUNT_ARN.fullmatch(value)
    return found.group(1) if found else None


def _is_callers_role(value: str, caller: _Caller, context: _Context) -> bool:
    """Whether `value` is the ARN of the role the calling session belongs to.

    A session ARN drops the role's path, so without aws:PrincipalArn in the context the role is
    known by account and name only; role names are unique in an account whatever their path.
    """
    if caller.kind != _Caller.ROLE_SESSION:
        return False
    role_arn = context.variable("aws:PrincipalArn")
    if role_arn is not None:
        return value == role_arn
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or parts[4] != caller.account:
        return False
    return parts[5].startswith("role/") and parts[5].rsplit("/", 1)[1] == caller.role_name


# ---------------------------------------------------------------------------------------------------
# Statements


_DOCUMENT_KEYS = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
}
_VERSIONS = ("2008-10-17", "2012-10-17")


@dataclass(frozen=True)
class _Statement:
    """A validated statement, ready to be matched against requests."""

    ref: StatementRef
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None  # None: no Resource element (a role trust policy)
    not_resource: bool
    principals: _Principals | None
    not_principal: bool
    conditions: tuple[_Condition, ...]
    variables: bool

    def matches(self, request: Request, context: _Context) -> bool:
        """Whether action, resource and conditions all match (the principal is checked apart)."""
        action_named = any(
            _glob(((action, False),), True).fullmatch(request.action) for action in self.actions
        )
        if action_named == self.not_action:
            return False
        if self.resources is not None:
            # A resource whose variable has no value matches no resource (reference_policies_variables.html).
            resource_named = False
            for resource in self.resources:
                parts = _substitute(resource, context, self.variables)
                if parts is not None and _resource_glob(parts).fullmatch(request.resource):
                    resource_named = True
                    break
            if resource_named == self.not_resource:
                return False
        return all(condition.holds(context, self.variables) for condition in self.conditions)

    def grant(self, caller: _Caller, context: _Context) -> int:
        """How far this matching resource-based Allow reaches for the caller."""
        assert self.principals is not None  # resource-based statements always have one
        if self.not_principal:
            named = self.principals.names_any_identity(caller, context)
            return _Grant.NONE if named else _Grant.DIRECT
        return self.principals.names(caller, context)

    def denies(self, caller: _Caller, context: _Context, has_boundary: bool) -> bool:
        """Whether this matching resource-based Deny applies to the caller."""
        assert self.principals is not None
        if not self.not_principal:
            return self.principals.names(caller, context) != _Grant.NONE
        if has_boundary and caller.kind in (_Caller.USER, _Caller.ROLE_SESSION):
            # "The NotPrincipal element with a Deny effect will always deny any IAM principal that
            # has a permissions boundary policy attached" (access_policies_boundaries.html).
            return True
        return not self.principals.covers_every_identity(caller, context)


def _parse_all(policies: Iterable[Policy], resource_based: bool) -> list[_Statement]:
    return [statement for policy in policies for statement in _parse_policy(policy, resource_based)]


def _parse_policy(policy: Policy, resource_based: bool) -> list[_Statement]:
    document = policy.document
    if not isinstance(document, Mapping):
        raise ValueError(f"{policy.name}: a policy document must be a JSON object")
    unknown = set(document) - _DOCUMENT_KEYS
    if unknown:
        raise ValueError(f"{policy.name}: unknown policy element(s) {sorted(unknown)}")
    version = document.get("Version", "2008-10-17")
    if version not in _VERSIONS:
        raise ValueError(f"{policy.name}: Version must be one of {_VERSIONS}, not {version!r}")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ValueError(f"{policy.name}: Statement must be a statement or a non-empty list of them")
    return [
        _parse_statement(policy.name, index, statement, resource_based, version == "2012-10-17")
        for index, statement in enumerate(statements)
    ]


def _parse_statement(
    policy: str, index: int, statement: object, resource_based: bool, variables: bool
) -> _Statement:
    where = f"{policy} statement {index}"
    if not isinstance(statement, Mapping):
        raise ValueError(f"{where}: a statement must be a JSON object")
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown statement element(s) {sorted(unknown)}")
    sid = statement.get("Sid", "")
    if not isinstance(sid, str):
        raise ValueError(f"{where}: Sid must be a string")
    where = f"{policy} statement {index}{f' ({sid})' if sid else ''}"
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f'{where}: Effect must be "Allow" or "Deny", not {effect!r}')

    action_key = _one_of(statement, "Action", "NotAction", where, required=True)
    assert action_key is not None
    actions = _strings(statement[action_key], f"{where}: {action_key}")
    for action in actions:
        if action != "*" and ":" not in action:
            raise ValueError(f"{where}: action {action!r} is not service:action")

    # Role trust policies have no Resource: they are about the role they are attached to.
    resource_key = _one_of(statement, "Resource", "NotResource", where, required=not resource_based)
    resources = _strings(statement[resource_key], f"{where}: {resource_key}") if resource_key else None

    principal_key = _one_of(statement, "Principal", "NotPrincipal", where, required=resource_based)
    if principal_key and not resource_based:
        raise ValueError(f"{where}: {principal_key} belongs in resource-based policies only")
    principals = (
        _Principals.parse(statement[principal_key], f"{where}: {principal_key}") if principal_key else None
    )

    conditions = _parse_conditions(statement["Condition"], where) if "Condition" in statement else ()
    return _Statement(
        ref=StatementRef(policy, sid, index),
        effect=str(effect),
        actions=actions,
        not_action=action_key == "NotAction",
        resources=resources,
        not_resource=resource_key == "NotResource",
        principals=principals,
        not_principal=principal_key == "NotPrincipal",
        conditions=conditions,
        variables=variables,
    )


def _one_of(
    statement: Mapping[str, Any], element: str, negated: str, where: str, required: bool
) -> str | None:
    if element in statement and negated in statement:
        raise ValueError(f"{where}: a statement has {element} or {negated}, not both")
    if element in statement:
        return element
    if negated in statement:
        return negated
    if required:
        raise ValueError(f"{where}: {element} or {negated} is required")
    return None


def _strings(raw: object, where: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list | tuple) else [raw]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ValueError(f"{where}: must be a non-empty string or a non-empty list of them")
    return tuple(str(item) for item in items)
