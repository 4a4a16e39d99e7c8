"""What a pipeline may deploy to, push to and pass must say it belongs to the pipeline's repository.

Tagging a CodeCommit repository grants nothing by itself. The ECS service the pipeline updates and an
ECR repository it did not create must carry the tag `<prefix>:repository=<CodeCommit repository>`;
each role it passes to the service's tasks must live under the path `/pipewarden-tasks/<repository>/`
(or `/pipewarden-tasks/@shared/`, which any pipewarden pipeline may pass). A path, not a tag, for
roles: AWS documents tag conditions on iam:PassRole as unreliable
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html). The enroll function
checks all three before it writes a stack, so a rejection says what is missing where; the permissions
boundary checks the same on every call, so removing a service's tag later revokes the right at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipewarden.aws import Clients, NotFound, call
from pipewarden.contract import ContractViolation, RepositorySettings

OWNER = "repository"
TASK_ROLES_PATH = "/pipewarden-tasks/"
# Not a valid CodeCommit repository name ([\w.-]+), so no repository can claim it.
SHARED = "@shared"


@dataclass(frozen=True)
class Targets:
    """What the stack's parameters need from ECS and ECR, once ownership is proven."""

    pass_roles: tuple[str, ...] = ()
    create_ecr_repository: bool = True
    warning: str = ""  # the ECS service does not exist (yet): the pipeline cannot deploy until it does


def owner_key(prefix: str) -> str:
    return f"{prefix}:{OWNER}"


def tag_map(tags: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """`[{key, value}]` (ECS, ECR's `Key`/`Value`, IAM's `Key`/`Value`) as a dict."""
    out: dict[str, str] = {}
    for tag in tags or []:
        key = tag.get("key", tag.get("Key"))
        if key is not None:
            out[str(key)] = str(tag.get("value", tag.get("Value", "")))
    return out


def check(clients: Clients, settings: RepositorySettings, prefix: str, ecr_created_by_stack: bool) -> Targets:
    """Prove the service, its roles and the ECR repository belong to the repository, or raise.

    Raises `ContractViolation` naming the repository's tag that led there and, in its reason, the
    resource and the tag it lacks. `ecr_created_by_stack`: the stack already owns the ECR repository.
    """
    roles, warning = _service_roles(clients, settings, prefix) if settings.deploys_to_ecs else ([], "")
    for role_arn, kind in roles:
        _check_role(settings, prefix, role_arn, kind)
    create = settings.pushes_image and (
        ecr_created_by_stack or _ecr_repository_is_missing(clients, settings, prefix)
    )
    return Targets(tuple(sorted({arn for arn, _ in roles})), create, warning)


def _service_roles(
    clients: Clients, settings: RepositorySettings, prefix: str
) -> tuple[list[tuple[str, str]], str]:
    where = f"ECS service {settings.ecs_service} in cluster {settings.ecs_cluster}"
    missing = f"{where} not found: the Deploy stage fails until it exists and names this repository"
    try:
        response = call(
            clients.ecs.describe_services,
            cluster=settings.ecs_cluster,
            services=[settings.ecs_service],
            include=["TAGS"],
        )
    except NotFound:
        return [], missing
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        return [], missing
    service = services[0]
    named = tag_map(service.get("tags")).get(owner_key(prefix))
    if named != settings.repository:
        raise ContractViolation(
            f"{prefix}:ecs-service", settings.ecs_service, _not_yours(where, named, prefix, settings)
        )
    task_definition = call(clients.ecs.describe_task_definition, taskDefinition=service["taskDefinition"])[
        "taskDefinition"
    ]
    named_roles = (
        (task_definition.get("taskRoleArn"), "task"),
        (task_definition.get("executionRoleArn"), "task execution"),
    )
    roles = [(arn, kind) for arn, kind in named_roles if arn]
    return roles, ""


def task_role_path(repository: str) -> str:
    """The IAM path of the task and execution roles that `repository`'s pipeline may pass."""
    return f"{TASK_ROLES_PATH}{repository}/"


def _check_role(settings: RepositorySettings, prefix: str, arn: str, kind: str) -> None:
    """The role's path (part of its ARN, no call needed) says which pipelines may pass it."""
    path = (
        "/" + arn.split(":role/", 1)[-1].rsplit("/", 1)[0] + "/" if "/" in arn.split(":role/", 1)[-1] else "/"
    )
    if path in (task_role_path(settings.repository), task_role_path(SHARED)):
        return
    name = arn.rsplit("/", 1)[-1]
    raise ContractViolation(
        f"{prefix}:ecs-service",
        settings.ecs_service,
        f"the service's {kind} role {name} (path {path}) may not be passed by this repository's pipeline: "
        f"its owner creates it under the path {task_role_path(settings.repository)} (or "
        f"{task_role_path(SHARED)}, which any pipewarden pipeline may pass)",
    )


def _ecr_repository_is_missing(clients: Clients, settings: RepositorySettings, prefix: str) -> bool:
    """True when the stack should create the ECR repository; raise if it exists and is another's."""
    name = settings.ecr_repository
    try:
        found = call(clients.ecr.describe_repositories, repositoryNames=[name])["repositories"]
    except NotFound:
        return True
    if not found:
        return True
    tags = call(clients.ecr.list_tags_for_resource, resourceArn=found[0]["repositoryArn"]).get("tags")
    named = tag_map(tags).get(owner_key(prefix))
    if named != settings.repository:
        where = f"ECR repository {name}, which exists already,"
        other = f"; or {prefix}:ecr-repository names one that does not exist yet, and pipewarden creates it"
        raise ContractViolation(
            f"{prefix}:ecr-repository", name, _not_yours(where, named, prefix, settings) + other
        )
    return False


def _not_yours(where: str, named: str | None, prefix: str, settings: RepositorySettings) -> str:
    """Why a resource is not the repository's, and the tag that would make it so."""
    wanted = f"{owner_key(prefix)}={settings.repository}"
    if named is None:
        return f"{where} does not name this repository: it needs the tag {wanted}, set by its owner"
    return (
        f"{where} belongs to repository {named!r} (its tag {owner_key(prefix)}), not to this one: "
        f"only its owner can change that to {wanted}"
    )
