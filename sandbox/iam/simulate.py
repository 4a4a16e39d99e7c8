"""iam:SimulatePrincipalPolicy over the sandbox's own evaluator, answered in AWS's response shape.

AWS's simulator (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html)
evaluates the identity policies of a user (with its groups') or role, and its permissions boundary,
for each action on each resource; it performs nothing. One EvaluationResult per action: its
EvalDecision is the most restrictive over the resources (explicitDeny, then implicitDeny), and
ResourceSpecificResults gives each resource's decision
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_EvaluationResult.html). EvalDecision is
one of `allowed | explicitDeny | implicitDeny` (botocore's iam model, PolicyEvaluationDecisionType).

Differences from AWS, on purpose: condition keys come only from ContextEntries (as AWS's simulator,
which fills in none itself), and MissingContextValues is not computed; resource-based policies and
SCPs are not simulated (AWS's takes one ResourcePolicy for users only); MatchedStatements carry no
line/column positions. With several resources the top-level EvalResourceName is `*` (unverified: the
page documents the aggregate decision, not which name it carries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.iam.enforce import Entity
from sandbox.iam.evaluate import ALLOWED, EXPLICIT_DENY, Decision, Request, StatementRef, evaluate

ALLOWED_DECISION = "allowed"
EXPLICIT = "explicitDeny"
IMPLICIT = "implicitDeny"
# The most restrictive decision wins the aggregate (API_EvaluationResult.html).
_RANK = {ALLOWED_DECISION: 0, IMPLICIT: 1, EXPLICIT: 2}
DEFAULT_MAX_ITEMS = 100  # "If you do not include this parameter, the number of items defaults to 100."


def decision_name(decision: Decision) -> str:
    """The simulator's EvalDecision for one of the evaluator's decisions."""
    if decision.reason == ALLOWED:
        return ALLOWED_DECISION
    return EXPLICIT if decision.reason == EXPLICIT_DENY else IMPLICIT


def _statements(entity: Entity, decision: Decision) -> list[dict[str, str]]:
    """MatchedStatements: the Deny that decided, else every statement that allows (none: implicit deny)."""
    refs: Sequence[StatementRef] = (decision.denied_by,) if decision.denied_by else decision.allowed_by
    if not decision.allowed and decision.denied_by is None:
        refs = ()
    return [
        {
            "SourcePolicyId": ref.policy.rsplit("/", 1)[-1] if ref.policy.startswith("arn:") else ref.policy,
            "SourcePolicyType": entity.source_types.get(ref.policy, "none"),
        }
        for ref in refs
    ]


def simulate(
    entity: Entity,
    actions: Sequence[str],
    resources: Sequence[str] = ("*",),
    context: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One EvaluationResult per action, over every resource (default `*`)."""
    resources = list(resources) or ["*"]
    values = {k: tuple(v) for k, v in (context or {}).items()}
    results = []
    for action in actions:
        per_resource = []
        for resource in resources:
            decision = evaluate(
                Request(entity.arn, action, resource, values), entity.identity, entity.boundaries
            )
            per_resource.append((resource, decision_name(decision), _statements(entity, decision)))
        worst = max(per_resource, key=lambda r: _RANK[r[1]])
        result: dict[str, Any] = {
            "EvalActionName": action,
            "EvalResourceName": resources[0] if len(resources) == 1 else "*",
            "EvalDecision": worst[1],
            "MatchedStatements": worst[2],
            "MissingContextValues": [],
        }
        if resources != ["*"]:
            result["ResourceSpecificResults"] = [
                {
                    "EvalResourceName": resource,
                    "EvalResourceDecision": name,
                    "MatchedStatements": statements,
                    "MissingContextValues": [],
                }
                for resource, name, statements in per_resource
            ]
        results.append(result)
    return results


def page(results: list[dict[str, Any]], max_items: int | None, marker: str | None) -> dict[str, Any]:
    """SimulatePolicyResponse: up to MaxItems results from Marker, with IsTruncated and the next Marker."""
    start = int(marker) if marker and marker.isdigit() else 0
    size = max_items or DEFAULT_MAX_ITEMS
    chunk = results[start : start + size]
    answer: dict[str, Any] = {"EvaluationResults": chunk, "IsTruncated": start + size < len(results)}
    if answer["IsTruncated"]:
        answer["Marker"] = str(start + size)
    return answer
