"""IAM gates on every resolved policy: parliament, cloudsplaining, condition keys, CloudFormation handlers."""

from __future__ import annotations

import argparse
import fnmatch
import functools
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from sandbox import template as cfn_template
from sandbox.iam import policies
from sandbox.iam.policies import Stack

EXCEPTIONS_FILE = policies.ROOT / "security/iam-exceptions.yaml"
CLOUDFORMATION_ROLE = "CloudFormationExecutionRole"
TOOLS = ("parliament", "cloudsplaining", "condition-keys", "schema")

# CloudFormation calls a type's create, read, update and delete handlers while it creates, updates,
# deletes and drift-checks a stack, always as the stack's execution role. The list handler serves
# only Cloud Control's ListResources and account-wide scans (the IaC generator), which never run as
# that role, so its permissions are not the role's to hold.
STACK_HANDLERS = ("create", "read", "update", "delete")

# Types whose provider schema (cfn-lint's copy) lists no handlers: the permissions AWS's
# documentation gives for the API operations each stack operation makes.
CODEBUILD_PERMISSIONS_REFERENCE = "https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-permissions-reference.html"
DOCUMENTED_HANDLER_PERMISSIONS: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "AWS::CodeBuild::Project": (
        CODEBUILD_PERMISSIONS_REFERENCE,
        {
            # CreateProject and UpdateProject need iam:PassRole for the project's ServiceRole. Triggers
            # make a webhook (CreateWebhook, UpdateWebhook, DeleteWebhook); Visibility is set with
            # UpdateProjectVisibility.
            "create": ("codebuild:CreateProject", "iam:PassRole", "codebuild:CreateWebhook"),
            "read": ("codebuild:BatchGetProjects",),
            "update": (
                "codebuild:UpdateProject",
                "iam:PassRole",
                "codebuild:CreateWebhook",
                "codebuild:UpdateWebhook",
                "codebuild:DeleteWebhook",
                "codebuild:UpdateProjectVisibility",
            ),
            "delete": ("codebuild:DeleteProject", "codebuild:DeleteWebhook"),
        },
    ),
}
# parliament's severities from its command line's default threshold up (MUTE and INFO are hidden there).
PARLIAMENT_SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class PolicyUnderTest:
    """One policy document as a linter sees it, named so an exception can point at it.

    `policy` is `<template>:<role>/<policy name>` for inline policies, `<template>:<role>/
    AssumeRolePolicyDocument` for trust policies, `<template>:<logical id>` for managed and
    resource policies, and the ARN for AWS managed policies.
    """

    policy: str
    kind: str  # identity, boundary, trust or resource
    document: dict[str, Any]
    stacks: tuple[str, ...] = ()  # labels of the stacks that hold this document


@dataclass(frozen=True)
class Finding:
    """One thing a gate reports: a linter's issue on one action of one policy, or a handler permission gap.

    For the schema gate, `kind` is `withheld` (a handler permission the execution role does not
    grant; `policy` is the resource type) or `not-needed` (granted, though no handler needs it;
    `policy` is the role).
    """

    tool: str  # parliament, cloudsplaining or schema
    kind: str  # parliament's issue, cloudsplaining's risk, or the schema gap
    policy: str
    action: str  # "" when the finding names no action
    detail: str = ""
    stacks: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What an explanation has to match (actions compare without case, as IAM does)."""
        return (self.tool, self.kind, self.policy, self.action.lower())

    def describe(self) -> str:
        """One line for the report."""
        action = f" {self.action}" if self.action else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.tool} {self.kind}: {self.policy}{action}{detail}"


@dataclass(frozen=True)
class Explanation:
    """A reviewed entry of security/iam-exceptions.yaml: why a finding stays, or the fix it waits for."""

    tool: str
    kind: str
    policy: str
    action: str
    reason: str
    pending: bool = False
    fix: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The finding this entry explains."""
        return (self.tool, self.kind, self.policy, self.action.lower())

    def describe(self) -> str:
        """One line for the report."""
        action = f" {self.action}" if self.action else ""
        return f"{self.tool} {self.kind}: {self.policy}{action}"


@dataclass
class Verdict:
    """Findings sorted into explained and unexplained, and the explanations that match nothing any more."""

    explained: list[tuple[Finding, Explanation]] = field(default_factory=list)
    unexplained: list[Finding] = field(default_factory=list)
    stale: list[Explanation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every finding is explained and every explanation still matches a finding."""
        return not self.unexplained and not self.stale


# -- the policies ------------------------------------------------------------------------------------


def policies_under_test(stacks: Iterable[Stack]) -> list[PolicyUnderTest]:
    """Every distinct document of these stacks: identity (inline, AWS managed), boundary, trust, resource.

    A blueprint has the same policy names under every case; a document whose content differs
    between cases (a PassRole list, a tag prefix) is kept once per content, under its one name.
    """
    stacks = list(stacks)
    # The controller creates the boundary, the blueprints' roles carry it.
    boundaries = {role.permissions_boundary for stack in stacks for role in stack.roles}
    found: dict[tuple[str, str], PolicyUnderTest] = {}
    for stack in stacks:
        documents: list[tuple[str, str, dict[str, Any]]] = []
        for role in stack.roles:
            prefix = f"{stack.template}:{role.logical_id}"
            documents.append((f"{prefix}/AssumeRolePolicyDocument", "trust", role.trust_policy))
            documents += [(f"{prefix}/{name}", "identity", doc) for name, doc in role.inline_policies.items()]
            documents += [
                (arn, "identity", policies.aws_managed_policy(arn))
                for arn in role.managed_policy_arns
                if arn.startswith("arn:aws:iam::aws:policy/")
            ]
        for managed in stack.managed_policies:
            kind = "boundary" if managed.arn in boundaries else "identity"
            documents.append((f"{stack.template}:{managed.logical_id}", kind, managed.document))
        documents += [
            (f"{stack.template}:{r.logical_id}", "resource", r.document) for r in stack.resource_policies
        ]
        for name, kind, document in documents:
            key = (name, json.dumps(document, sort_keys=True))
            held = found[key].stacks if key in found else ()
            if stack.label not in held:
                found[key] = PolicyUnderTest(name, kind, document, (*held, stack.label))
    return list(found.values())


# -- parliament --------------------------------------------------------------------------------------


@functools.cache
def _parliament() -> Any:
    import parliament  # type: ignore[import-untyped]

    # The community auditors (privilege escalation, credentials exposure, permissions management,
    # NotPrincipal/NotResource with Allow ...) define their own issues; the CLI loads them the same way.
    overrides = Path(parliament.__file__).parent / "community_auditors/config_override.yaml"
    parliament.override_config(str(overrides))
    return parliament


@functools.cache
def _canonical_actions() -> dict[str, str]:
    """Lower-case IAM action -> its spelling in AWS's definitions (policy_sentry's database)."""
    from policy_sentry.querying.all import get_all_actions

    return {action.lower(): action for action in get_all_actions()}


def canonical(action: str) -> str:
    """An action as AWS spells it when AWS's definitions know it (parliament reports lower case)."""
    return _canonical_actions().get(action.lower(), action)


def is_iam_action(action: str) -> bool:
    """True when AWS's definitions know the action."""
    return action.lower() in _canonical_actions()


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _statement_actions(statement: Mapping[str, Any]) -> list[str]:
    return [canonical(a) for a in _as_list(statement.get("Action", statement.get("NotAction")))]


def _one_statement_a_line(document: Mapping[str, Any]) -> tuple[str, int]:
    """The document as JSON with statement i on line `first + i`, so a finding's line names its statement."""
    head = json.dumps({k: v for k, v in document.items() if k != "Statement"})
    statements = list(policies.statements(document))
    lines = [head[:-1] + (", " if head != "{}" else "") + '"Statement": [']
    lines += [json.dumps(s) + ("," if i < len(statements) - 1 else "") for i, s in enumerate(statements)]
    lines.append("]}")
    return "\n".join(lines), 2


def parliament_findings(policy: PolicyUnderTest) -> list[Finding]:
    """parliament (with its community auditors) on one policy, one finding per action it names.

    Trust policies are left out: parliament lints identity and resource policies, and reports any
    trust policy as MALFORMED (it has no Resource). A statement parliament cannot analyze (it
    raises) is an EXCEPTION finding on that statement's actions, and the rest is still analyzed.
    A policy with Deny statements is linted whole and with its Allow statements alone.
    """
    if policy.kind == "trust":
        return []
    parliament = _parliament()
    head = {k: v for k, v in policy.document.items() if k != "Statement"}
    found: list[Finding] = []
    statements: list[dict[str, Any]] = []
    for index, statement in enumerate(policies.statements(policy.document)):
        try:
            parliament.analyze_policy_string(json.dumps({**head, "Statement": [statement]}))
        except Exception as error:  # a crash is a finding, on the statement that caused it
            note = f"parliament raised on {statement.get('Sid', f'statement {index}')}: {error}"
            found += [
                Finding("parliament", "EXCEPTION", policy.policy, action, note)
                for action in _statement_actions(statement)
            ]
        else:
            statements.append(statement)
    # parliament's auditors take any Deny on Resource "*" or with NotResource as removing its actions
    # everywhere, and then stop seeing them (the CloudFormation role's IAM writes, for one); a Deny
    # only narrows where they apply, so the Allow statements are also linted on their own.
    allows = [s for s in statements if s.get("Effect") == "Allow"]
    variants = [statements, allows] if len(allows) < len(statements) else [statements]
    unique: dict[tuple[str, str, str, str], Finding] = {f.key: f for f in found}
    for variant in variants:
        for finding in _parliament_run(parliament, policy.policy, {**head, "Statement": variant}):
            unique.setdefault(finding.key, finding)
    return list(unique.values())


def _parliament_run(parliament: Any, name: str, document: Mapping[str, Any]) -> list[Finding]:
    statements = list(policies.statements(document))
    text, first = _one_statement_a_line(document)
    try:
        analyzed = parliament.analyze_policy_string(text, include_community_auditors=True)
    except Exception as error:  # an auditor's crash on the whole policy is a finding too
        return [Finding("parliament", "EXCEPTION", name, "", f"parliament raised: {error}")]
    found: list[Finding] = []
    for raw in analyzed.findings:
        issue = parliament.enhance_finding(raw)
        if issue.severity in PARLIAMENT_SEVERITIES:
            found += [
                Finding("parliament", issue.issue, name, action, note)
                for action, note in _parliament_actions(dict(issue.location), issue.detail, statements, first)
            ]
    return found


def _parliament_actions(
    location: dict[str, Any], detail: Any, statements: Sequence[Mapping[str, Any]], first: int
) -> list[tuple[str, str]]:
    """(action, note) for each action a parliament finding is about ("" when it names none).

    parliament names them in the location (community auditors), as its detail (RESOURCE_STAR,
    RESOURCE_MISMATCH), or only by a line of the document: then they are the actions of the
    statement on that line.
    """
    note = str(detail) if detail else ""
    if "type" in location:  # privilege escalation: the method, made of the actions it lists
        return [(str(location["type"]), ", ".join(canonical(a) for a in location.get("actions", [])))]
    if isinstance(location.get("actions"), list):
        return [(canonical(a), note) for a in location["actions"]]
    if isinstance(detail, list) and all(isinstance(d, str) for d in detail):
        return [(canonical(a), "") for a in detail]
    if isinstance(detail, list) and all(isinstance(d, dict) and "action" in d for d in detail):
        return [(canonical(d["action"]), f"needs Resource {d.get('required_format', '?')}") for d in detail]
    line = int(location.get("lineno", location.get("line", -1)))
    if 0 <= line - first < len(statements):
        return [(action, note) for action in _statement_actions(statements[line - first])]
    return [("", note)]


# -- cloudsplaining ----------------------------------------------------------------------------------


def cloudsplaining_findings(policy: PolicyUnderTest, account: str = policies.ACCOUNT) -> list[Finding]:
    """cloudsplaining's risks on one policy, one finding per action.

    Identity policies and the boundary get its policy scan (privilege escalation, resource exposure,
    data exfiltration, credentials exposure, infrastructure modification, service wildcards); trust
    policies its check for principals outside the account; resource policies its check for access
    from the internet.
    """
    from cloudsplaining.command.scan_policy_file import scan_policy
    from cloudsplaining.scan.assume_role_policy_document import AssumeRolePolicyDocument
    from cloudsplaining.scan.resource_policy_document import ResourcePolicyDocument
    from cloudsplaining.shared.constants import DEFAULT_EXCLUSIONS_CONFIG

    name = policy.policy
    if policy.kind == "trust":
        trust = AssumeRolePolicyDocument(policy.document, current_account_id=account)
        return [
            *(
                Finding("cloudsplaining", "AssumableByCrossAccountPrincipal", name, principal)
                for principal in trust.role_assumable_by_cross_account_principals
            ),
            *(
                Finding("cloudsplaining", "AssumableByAnyPrincipal", name, principal)
                for principal in trust.role_assumable_by_any_principal
            ),
        ]
    if policy.kind == "resource":
        exposed = ResourcePolicyDocument(policy.document).internet_accessible_actions
        return [Finding("cloudsplaining", "InternetAccessible", name, canonical(a)) for a in exposed]
    found: list[Finding] = []
    for risk, result in scan_policy(policy.document, DEFAULT_EXCLUSIONS_CONFIG).items():
        if not isinstance(result, dict):
            continue  # ServicesAffected: a summary of the others, not a risk
        for item in result.get("findings", []):
            if isinstance(item, dict):  # privilege escalation: a method and the actions it combines
                actions = ", ".join(canonical(a) for a in item.get("actions", []))
                found.append(Finding("cloudsplaining", risk, name, str(item["type"]), actions))
            else:
                found.append(Finding("cloudsplaining", risk, name, canonical(str(item))))
    return found


# -- condition keys --------------------------------------------------------------------------------

# "Multivalued context keys require a condition set operator" (ForAllValues or ForAnyValue).
MULTIVALUED_KEYS_REFERENCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html"
# Global keys the IAM User Guide lists as multivalued; a service's keys say so by an ArrayOf... type.
GLOBAL_MULTIVALUED_KEYS = frozenset(
    {"aws:tagkeys", "aws:calledvia", "aws:principalservicenameslist", "aws:principalorgpaths"}
)


def is_multivalued_key(key: str) -> bool:
    """True when AWS's definitions give the condition key several values in one request (ArrayOf... types)."""
    from policy_sentry.querying.conditions import get_condition_key_details

    lowered = key.lower()
    if lowered.startswith("aws:"):
        return lowered in GLOBAL_MULTIVALUED_KEYS
    try:
        details = get_condition_key_details(lowered.split(":", 1)[0], lowered)
    except KeyError:  # a service AWS's definitions do not know, or one without condition keys
        return False
    return str((details or {}).get("condition_value_type", "")).startswith("arrayof")


def condition_key_findings(policy: PolicyUnderTest) -> list[Finding]:
    """Multivalued condition keys used without ForAllValues or ForAnyValue, one finding per action.

    parliament checks condition types but raises on ArrayOfARN keys, and neither linter checks
    for the set operator AWS requires with a multivalued key (MULTIVALUED_KEYS_REFERENCE).
    """
    found: list[Finding] = []
    for statement in policies.statements(policy.document):
        for operator, block in (statement.get("Condition") or {}).items():
            if operator.startswith(("ForAllValues:", "ForAnyValue:")) or operator.startswith("Null"):
                continue
            for key in block:
                if is_multivalued_key(key):
                    note = f"{operator} on {key}, which has several values per request"
                    found += [
                        Finding(
                            "condition-keys", "MULTIVALUED_KEY_WITHOUT_SET_OPERATOR", policy.policy, a, note
                        )
                        for a in _statement_actions(statement)
                    ]
    return found


# -- CloudFormation handler permissions --------------------------------------------------------------


@functools.cache
def _provider_schemas() -> tuple[Path, dict[str, str]]:
    import cfnlint  # type: ignore[import-untyped]

    schemas = Path(cfnlint.__file__).parent / "data/schemas"
    index: dict[str, str] = json.loads((schemas / "providers/us-east-1.json").read_text(encoding="utf-8"))
    return schemas / "resources", index


def schema_handler_permissions(resource_type: str) -> dict[str, tuple[str, ...]]:
    """handler -> IAM permissions, from the type's resource provider schema (cfn-lint's copy of AWS's)."""
    directory, index = _provider_schemas()
    schema = json.loads((directory / f"{index[resource_type]}.json").read_text(encoding="utf-8"))
    return {name: tuple(h.get("permissions", ())) for name, h in schema.get("handlers", {}).items()}


def handler_permissions(resource_type: str) -> dict[str, tuple[str, ...]]:
    """The permissions of a type's stack handlers: its schema's, or AWS's documented ones without them."""
    from_schema = schema_handler_permissions(resource_type)
    if from_schema:
        return {h: from_schema.get(h, ()) for h in STACK_HANDLERS}
    if resource_type in DOCUMENTED_HANDLER_PERMISSIONS:
        return dict(DOCUMENTED_HANDLER_PERMISSIONS[resource_type][1])
    raise KeyError(f"{resource_type}: its schema has no handlers and no documented permissions are recorded")


def blueprint_resource_types(paths: Iterable[Path] | None = None) -> set[str]:
    """Every resource type a blueprint declares (conditional resources included)."""
    found: set[str] = set()
    for path in paths if paths is not None else policies.blueprint_paths():
        found |= {r["Type"] for r in cfn_template.load(path)["Resources"].values()}
    return found


def needed_permissions(resource_types: Iterable[str]) -> dict[str, tuple[str, set[str]]]:
    """Lower-case permission -> (its spelling, the types whose stack handlers need it)."""
    needed: dict[str, tuple[str, set[str]]] = {}
    for resource_type in sorted(resource_types):
        for permissions in handler_permissions(resource_type).values():
            for permission in permissions:
                needed.setdefault(permission.lower(), (canonical(permission), set()))[1].add(resource_type)
    return needed


def expand_actions(patterns: Iterable[str]) -> set[str]:
    """Action patterns (`logs:Tag*`, `*`) as the lower-case actions of AWS's definitions they match.

    A name without a wildcard stays as written, whether AWS knows it or not.
    """
    known = _canonical_actions()
    expanded: set[str] = set()
    for pattern in patterns:
        lowered = pattern.lower()
        if "*" in lowered or "?" in lowered:
            expanded |= {action for action in known if fnmatch.fnmatchcase(action, lowered)}
        else:
            expanded.add(lowered)
    return expanded


def granted_actions(role: policies.Role) -> set[str]:
    """Lower-case actions an Allow in the role's identity policies grants, on some resource or condition.

    A Deny narrows where an action applies without taking it away everywhere, so it is not
    subtracted; an Allow with NotAction grants every action it does not name.
    """
    documents = [*role.inline_policies.values()]
    documents += [policies.aws_managed_policy(a) for a in role.managed_policy_arns if ":aws:policy/" in a]
    granted: set[str] = set()
    for document in documents:
        for statement in policies.statements(document):
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                granted |= set(_canonical_actions()) - expand_actions(_as_list(statement["NotAction"]))
            else:
                granted |= expand_actions(_as_list(statement.get("Action")))
    return granted


def schema_findings(stacks: Sequence[Stack], blueprints: Iterable[Path] | None = None) -> list[Finding]:
    """The CloudFormation execution role of each controller stack against its blueprints' handlers."""
    needed = needed_permissions(blueprint_resource_types(blueprints))
    found: dict[tuple[str, str, str, str], Finding] = {}
    for stack in stacks:
        if stack.template != policies.CONTROLLER_TEMPLATE.name:
            continue
        role = stack.role(CLOUDFORMATION_ROLE)
        granted = granted_actions(role)
        gaps = [
            Finding(
                "schema",
                "withheld",
                resource_type,
                spelling,
                "" if is_iam_action(spelling) else "not an action in AWS's IAM definitions",
            )
            for permission, (spelling, types) in needed.items()
            if permission not in granted
            for resource_type in sorted(types)
        ]
        policy = f"{stack.template}:{role.logical_id}"
        gaps += [Finding("schema", "not-needed", policy, canonical(a)) for a in sorted(granted - set(needed))]
        for gap in gaps:
            previous = found.get(gap.key)
            stacks_seen = (*previous.stacks, stack.label) if previous else (stack.label,)
            found[gap.key] = Finding(gap.tool, gap.kind, gap.policy, gap.action, gap.detail, stacks_seen)
    return sorted(found.values(), key=lambda f: f.key)


# -- explanations ------------------------------------------------------------------------------------


def load_explanations(path: Path = EXCEPTIONS_FILE) -> list[Explanation]:
    """The reviewed entries; a malformed one (no reason, pending without its fix, twice) raises ValueError."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries: list[Explanation] = []
    for section in ("handler_permissions", "findings"):
        for index, raw in enumerate(data.get(section) or []):
            where = f"{path.name}: {section}[{index}]"
            if not isinstance(raw, dict):
                raise ValueError(f"{where} is not a mapping")
            tool: Any = "schema" if section == "handler_permissions" else raw.get("tool")
            kind: Any = raw.get("kind") if section == "handler_permissions" else raw.get("issue")
            policy: Any = raw.get("policy")
            if section == "handler_permissions":
                policy = raw.get("resource_type") if kind == "withheld" else raw.get("role")
            if not (tool in TOOLS and kind and policy):
                raise ValueError(
                    f"{where}: name the finding (tool, issue or kind, policy, resource_type or role)"
                )
            action = str(raw.get("action", ""))
            entries.append(Explanation(str(tool), str(kind), str(policy), action, **_why(raw, where)))
    keys = [e.key for e in entries]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"{path.name}: entries listed twice: {twice}")
    return entries


def _why(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    reason = " ".join(str(raw.get("reason", "")).split())
    pending = raw.get("pending", False)
    fix = " ".join(str(raw.get("fix", "")).split())
    if len(reason) < 20:
        raise ValueError(f"{where} needs a reason: a sentence, not a word")
    if not isinstance(pending, bool):
        raise ValueError(f"{where}: pending is true or false")
    if pending != bool(fix):
        raise ValueError(f"{where}: a pending entry says its fix in `fix`, and only a pending entry has one")
    return {"reason": reason, "pending": pending, "fix": fix}


def judge(
    findings: Iterable[Finding], explanations: Iterable[Explanation], tools: Iterable[str] = TOOLS
) -> Verdict:
    """Each finding explained or not; an explanation for one of these tools that matches nothing is stale."""
    by_key = {e.key: e for e in explanations}
    verdict = Verdict()
    for finding in findings:
        entry = by_key.get(finding.key)
        if entry is None:
            verdict.unexplained.append(finding)
        else:
            verdict.explained.append((finding, entry))
    matched = {entry.key for _, entry in verdict.explained}
    wanted = set(tools)
    verdict.stale = [e for e in by_key.values() if e.tool in wanted and e.key not in matched]
    return verdict


# -- everything --------------------------------------------------------------------------------------


def lint_findings(stacks: Sequence[Stack]) -> list[Finding]:
    """parliament's, cloudsplaining's and the condition key check's findings on every policy, each once."""
    merged: dict[tuple[str, str, str, str], Finding] = {}
    for policy in policies_under_test(stacks):
        for finding in [
            *parliament_findings(policy),
            *cloudsplaining_findings(policy),
            *condition_key_findings(policy),
        ]:
            previous = merged.get(finding.key)
            seen = tuple(dict.fromkeys([*(previous.stacks if previous else ()), *policy.stacks]))
            detail = previous.detail if previous else finding.detail
            merged[finding.key] = Finding(
                finding.tool, finding.kind, finding.policy, finding.action, detail, seen
            )
    return sorted(merged.values(), key=lambda f: f.key)


def every_finding(stacks: Sequence[Stack] | None = None) -> list[Finding]:
    """Every finding of the three gates on the templates as they are now (every case of `policies`)."""
    chosen = list(stacks if stacks is not None else policies.every_stack())
    return [*lint_findings(chosen), *schema_findings(chosen)]


def report(verdict: Verdict, out: TextIO | None = None) -> None:
    """Print each finding with its verdict, then the stale explanations and a count (to stdout by default)."""
    out = out or sys.stdout
    unexplained = "UNEXPLAINED: fix it, or explain it in security/iam-exceptions.yaml"
    rows = [(f.describe(), "!!", unexplained) for f in verdict.unexplained]
    for finding, entry in verdict.explained:
        if entry.pending:
            rows.append((finding.describe(), "ok", f"pending a template fix: {entry.fix}"))
        else:
            rows.append((finding.describe(), "ok", f"explained: {entry.reason}"))
    for line, mark, status in sorted(rows):
        print(f"{mark} {line}\n     {status}", file=out)
    for entry in verdict.stale:
        print(f"!! {entry.describe()}\n     STALE: the explanation matches no finding; remove it", file=out)
    pending = sum(1 for _, entry in verdict.explained if entry.pending)
    print(
        f"\n{len(verdict.explained) + len(verdict.unexplained)} findings: {len(verdict.explained)} explained"
        f" ({pending} pending a template fix), {len(verdict.unexplained)} unexplained;"
        f" {len(verdict.stale)} stale explanations",
        file=out,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sandbox.iam.lint`: the report; exit status 1 on an unexplained finding or a stale entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exceptions", type=Path, default=EXCEPTIONS_FILE, help="the reviewed explanations")
    args = parser.parse_args(argv)
    verdict = judge(every_finding(), load_explanations(args.exceptions))
    report(verdict)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
