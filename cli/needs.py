"""What the principal deploying the controller stack must be allowed: actions on resources, by template.yaml.

`sam deploy` (no CloudFormation service role) makes CloudFormation act with the deployer's own
credentials, so the deployer needs every permission the create handler of each resource type in the
translated template lists (its resource provider schema, `handlers.create.permissions`, as
sandbox/iam/lint.py reads them from cfn-lint's copy of AWS's schemas), plus what `sam deploy` itself
calls: the change set on the stack and on the Serverless transform, and the upload to SAM's managed
artifact bucket. Each permission is paired with the resource it acts on: the resource itself, or one
it references (a function's role for iam:PassRole); an action on no resource type is on `*`. A
schema's permission on a type that is neither serves a property the template leaves unset, and is not
asked about.
Names are the ones CloudFormation would generate (`<stack>-<logical id>-<suffix>`, made up but of the
right shape), so a deployer whose policies are scoped to the stack's names is simulated as AWS would.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import template as cfn_template
from sandbox.iam import catalog, lint, policies

TEMPLATE = policies.CONTROLLER_TEMPLATE
SERVERLESS_TRANSFORM = "Serverless-2016-10-31"
# `sam deploy --resolve-s3` uploads to the bucket of its managed stack aws-sam-cli-managed-default
# (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html).
SAM_BUCKET = "aws-sam-cli-managed-default-samclisourcebucket-*"


@dataclass(frozen=True, order=True)
class Need:
    """One permission the deployer needs: an action on a resource, and which part of the stack needs it."""

    action: str
    resource: str
    why: str


def _references(value: Any) -> Iterator[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt, ${X} in Fn::Sub)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) else str(inner).split(".", 1)[0]
                yield str(target)
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _arn_of(attributes: Mapping[str, str]) -> str | None:
    for key in ("Arn", "LayerVersionArn", "TopicArn", "PolicyArn"):
        if attributes.get(key, "").startswith("arn:"):
            return attributes[key]
    return None


def _rehome(arn: str, partition: str, account: str, region: str) -> str:
    """An ARN of sandbox/iam/policies.py (aws, 123456789012, us-east-1) in the caller's account and region."""
    parts = arn.split(":", 5)
    parts[1] = partition
    if parts[3]:
        parts[3] = region
    if parts[4]:
        parts[4] = account
    return ":".join(parts)


def controller_needs(
    stack: str,
    account: str,
    region: str,
    partition: str = "aws",
    parameters: Mapping[str, str] | None = None,
    template: Path = TEMPLATE,
) -> tuple[Need, ...]:
    """Every permission deploying the controller template as stack `stack` needs, sorted and unique."""
    return _needs(stack, account, region, partition, tuple(sorted((parameters or {}).items())), template)


@functools.cache
def _needs(
    stack: str,
    account: str,
    region: str,
    partition: str,
    parameters: tuple[tuple[str, str], ...],
    template: Path,
) -> tuple[Need, ...]:
    values = dict(parameters)
    translated = policies.sam_translate(cfn_template.load(template), values)
    ids = policies.physical_ids(translated, values, stack)
    arns = {
        logical: _rehome(arn, partition, account, region)
        for logical, attributes in ids.items()
        if (arn := _arn_of(attributes)) is not None
    }
    needs: set[Need] = set()
    for logical, resource in translated["Resources"].items():
        kind = resource["Type"]
        own = [arns[logical]] if logical in arns else []
        referenced = [
            arns[r] for r in dict.fromkeys(_references(resource.get("Properties", {}))) if r in arns
        ]
        for permission in lint.handler_permissions(kind)["create"]:
            known = catalog.action(permission)
            if known is None:
                continue  # a schema's permission AWS does not define as an IAM action: nothing to simulate
            types = known.resource_types()
            if not types:  # an action on no resource type (ec2:DescribeVpcs) is authorized on `*`
                needs.add(Need(known.full_name, "*", f"{kind} {logical}"))
                continue
            fits = [arn for arn in own + referenced if catalog.resource_type_of(arn, types)]
            # The resource itself when the action acts on its type, else those it references. An
            # action on a type neither is (AWS::IAM::ManagedPolicy's iam:AttachGroupPolicy with no
            # Groups, AWS::Events::Rule's iam:PassRole with no target role) serves a property the
            # template leaves unset: not needed here.
            for arn in fits[:1] if own and fits and fits[0] == own[0] else fits:
                needs.add(Need(known.full_name, arn, f"{kind} {logical}"))
    stack_arn = f"arn:{partition}:cloudformation:{region}:{account}:stack/{stack}/*"
    # What `sam deploy` calls on the stack (aws-sam-cli 1.170.0, samcli/lib/deploy/deployer.py).
    for action in (
        "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
        "cloudformation:GetTemplateSummary",
    ):
        needs.add(Need(action, stack_arn, "sam deploy"))
    # A template with a transform needs CreateChangeSet on the transform itself
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/transform-section-structure.html).
    transform = f"arn:{partition}:cloudformation:{region}:aws:transform/{SERVERLESS_TRANSFORM}"
    needs.add(Need("cloudformation:CreateChangeSet", transform, "sam deploy (the Serverless transform)"))
    for action in ("s3:PutObject", "s3:GetObject"):
        needs.add(Need(action, f"arn:{partition}:s3:::{SAM_BUCKET}/{stack}/*", "sam deploy (artifacts)"))
    return tuple(sorted(needs))


def by_resource(needs: tuple[Need, ...]) -> dict[str, list[str]]:
    """Resource -> the actions needed on it (each once): one simulation per resource, as AWS simulates
    every action given on every resource given."""
    grouped: dict[str, list[str]] = {}
    for need in needs:
        actions = grouped.setdefault(need.resource, [])
        if need.action not in actions:
            actions.append(need.action)
    return grouped
