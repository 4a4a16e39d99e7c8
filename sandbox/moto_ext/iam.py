"""IAM: policies without `Version` accepted, and a stack update that changes a role applied, as IAM does.

moto 5.2.5 refuses any policy whose Version is not 2012-10-17. IAM stores one without a Version (it
defaults to 2008-10-17, whose only difference is that policy variables are plain text); SAM writes such
documents for a function's on-failure destination, so the controller's roles carry them on AWS.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html

moto's AWS::IAM::Role update applies only the description: a stack update that changes a role's inline
policies, trust policy, tags, boundary or managed policies leaves the role as it was. CloudFormation's
update handler applies each (iam:PutRolePolicy, DeleteRolePolicy, UpdateAssumeRolePolicy, TagRole,
UntagRole, PutRolePermissionsBoundary, DeleteRolePermissionsBoundary, Attach/DetachRolePolicy).
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam import policy_validation
from moto.iam.models import Role, iam_backends
from moto.utilities.utils import get_partition


def _validate_version(self: policy_validation.BaseIAMPolicyValidator) -> None:
    assert self._policy_json.get("Version", "2008-10-17") in policy_validation.VALID_VERSIONS


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def update_role(
    cls: Any,
    original_resource: Role,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> Role:
    """The role updated in place with the template's new properties, as CloudFormation's handler does."""
    backend = iam_backends[account_id][get_partition(region_name)]
    properties = cloudformation_json["Properties"]
    role = original_resource
    name = role.name
    wanted = {p["PolicyName"]: _text(p["PolicyDocument"]) for p in properties.get("Policies", [])}
    for policy in set(role.policies) - set(wanted):
        role.delete_policy(policy)
    for policy, document in wanted.items():
        backend.put_role_policy(name, policy, document)
    if "AssumeRolePolicyDocument" in properties:
        backend.update_assume_role_policy(name, _text(properties["AssumeRolePolicyDocument"]))
    tags = {t["Key"]: t["Value"] for t in properties.get("Tags", [])}
    # moto keeps a role's tags as a list of {Key, Value} (created by CloudFormation) or by key
    current = role.tags.values() if isinstance(role.tags, dict) else role.tags
    gone = [str(t["Key"]) for t in current if t["Key"] not in tags]
    if gone:
        backend.untag_role(name, gone)
    if tags:
        backend.tag_role(name, [{"Key": k, "Value": v} for k, v in tags.items()])
    if properties.get("PermissionsBoundary"):
        backend.put_role_permissions_boundary(name, properties["PermissionsBoundary"])
    elif role.permissions_boundary_arn:
        backend.delete_role_permissions_boundary(name)
    managed = set(properties.get("ManagedPolicyArns", []))
    for arn in set(role.managed_policies) - managed:
        backend.detach_role_policy(arn, name)
    for arn in managed - set(role.managed_policies):
        backend.attach_role_policy(arn, name)
    role.description = properties.get("Description", "")
    return role


def install() -> None:
    policy_validation.BaseIAMPolicyValidator._validate_version = _validate_version
    Role.update_from_cloudformation_json = classmethod(update_role)
