"""IAM: policies without `Version` accepted, and a stack update that changes a role applied, as IAM does.

moto 5.2.5 refuses any policy whose Version is not 2012-10-17. IAM stores one without a Version (it
defaults to 2008-10-17, whose only difference is that policy variables are plain text); SAM writes such
documents for a function's on-failure destination, so the controller's roles carry them on AWS.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html

moto's AWS::IAM::Role update applies only the description: a stack update that changes a role's inline
policies, trust policy, tags, boundary or managed policies leaves the role as it was. CloudFormation's
update handler applies each (iam:PutRolePolicy, DeleteRolePolicy, UpdateAssumeRolePolicy, TagRole,
UntagRole, PutRolePermissionsBoundary, DeleteRolePermissionsBoundary, Attach/DetachRolePolicy).

moto 5.2.5 has no iam:SimulatePrincipalPolicy: the sandbox answers it with its own evaluator
(sandbox/iam/simulate.py), so `pipewarden doctor` and `aws iam simulate-principal-policy` work here.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult
from moto.iam import policy_validation
from moto.iam.exceptions import NotFoundException
from moto.iam.models import Role, iam_backends
from moto.iam.responses import IamResponse
from moto.utilities.utils import get_partition

from sandbox.iam import enforce, simulate


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


def simulate_principal_policy(self: Any) -> ActionResult:
    """SimulatePrincipalPolicy: the source's policies evaluated for each action on each resource."""
    source = str(self._get_param("PolicySourceArn"))
    entity = enforce.entity(self.current_account, source)
    if entity is None:
        raise NotFoundException(f"The entity {source} cannot be found.")
    context = {
        str(e["ContextKeyName"]): [str(v) for v in e.get("ContextKeyValues", [])]
        for e in self._get_param("ContextEntries", [])
    }
    results = simulate.simulate(
        entity,
        [str(a) for a in self._get_param("ActionNames", [])],
        [str(r) for r in self._get_param("ResourceArns", [])],
        context,
    )
    max_items = self._get_param("MaxItems")
    return ActionResult(
        simulate.page(results, int(max_items) if max_items else None, self._get_param("Marker"))
    )


def install() -> None:
    policy_validation.BaseIAMPolicyValidator._validate_version = _validate_version
    IamResponse.simulate_principal_policy = simulate_principal_policy
    Role.update_from_cloudformation_json = classmethod(update_role)
