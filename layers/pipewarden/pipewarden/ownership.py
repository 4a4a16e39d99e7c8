"""What a pipeline may deploy to, push to and pass must say it belongs to the pipeline's repository.

Tagging a CodeCommit repository grants nothing by itself. The ECS service the pipeline updates and an
ECR repository it did not create must carry the tag `<prefix>:repository=<CodeCommit repository>`;
each role it passes to the service's tasks must live under the path `/pipewarden-tasks/<repository>/`
(or `/pipewarden-tasks/@shared/`, which any pipewarden pipeline may pass). A path, not a tag, for
roles: AWS documents tag conditions on iam:PassRole as unreliable
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html). The enroll function
checks all three before it writes a stack, so a rejection says what is missing where; the permissions
boundary checks the same on every call, so removing a service's tag later revokes the right at once.

A blue/green pipeline (ecs-blue-green) also hands CodeDeploy the service's load balancer: the target
group the service names, the one `<prefix>:test-target-group` names and the listener that forwards to
either must each carry the same tag, and the service must be deployed by CodeDeploy (its
deploymentController CODE_DEPLOY); an ecs-rolling pipeline needs one that ECS deploys itself. ECS
refuses a new task definition to a CODE_DEPLOY service ("Unable to update task definition on services
with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new deployment.",
https://github.com/boto/boto3/issues/1936), and CodeDeploy deploys nothing to an ECS-controlled one.
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
    # ecs-blue-green: the two target groups (the service's own first), the production listener and
    # the container port the service's load balancer sends traffic to.
    target_groups: tuple[str, ...] = ()
    listener_arn: str = ""
    container_port: str = ""


@dataclass(frozen=True)
class _LoadBalancing:
    target_groups: tuple[str, ...]
    listener_arn: str
    container_port: str


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
    service: dict[str, Any] = {}
    roles: list[tuple[str, str]] = []
    warning = ""
    if settings.deploys_to_ecs:
        service, roles, warning = _service_roles(clients, settings, prefix)
    for role_arn, kind in roles:
        _check_role(settings, prefix, role_arn, kind)
    balancing = _LoadBalancing((), "", "")
    if settings.deploys_with_codedeploy:
        if warning:  # a deployment group names the service and its load balancer: they must exist
            raise ContractViolation(f"{prefix}:ecs-service", settings.ecs_service, warning)
        balancing = _load_balancing(clients, settings, prefix, service)
    create = settings.pushes_image and (
        ecr_created_by_stack or _ecr_repository_is_missing(clients, settings, prefix)
    )
    return Targets(
        tuple(sorted({arn for arn, _ in roles})),
        create,
        warning,
        balancing.target_groups,
        balancing.listener_arn,
        balancing.container_port,
    )


def _service_roles(
    clients: Clients, settings: RepositorySettings, prefix: str
) -> tuple[dict[str, Any], list[tuple[str, str]], str]:
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
        return {}, [], missing
    services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
    if not services:
        return {}, [], missing
    service: dict[str, Any] = dict(services[0])
    named = tag_map(service.get("tags")).get(owner_key(prefix))
    if named != settings.repository:
        raise ContractViolation(
            f"{prefix}:ecs-service", settings.ecs_service, _not_yours(where, named, prefix, settings)
        )
    _check_controller(settings, prefix, where, service)
    task_definition = call(clients.ecs.describe_task_definition, taskDefinition=service["taskDefinition"])[
        "taskDefinition"
    ]
    named_roles = (
        (task_definition.get("taskRoleArn"), "task"),
        (task_definition.get("executionRoleArn"), "task execution"),
    )
    roles = [(arn, kind) for arn, kind in named_roles if arn]
    return service, roles, ""


def _check_controller(
    settings: RepositorySettings, prefix: str, where: str, service: Mapping[str, Any]
) -> None:
    """The service's deployment controller must be the one the blueprint deploys with."""
    controller = str((service.get("deploymentController") or {}).get("type") or "ECS")
    wanted = "CODE_DEPLOY" if settings.deploys_with_codedeploy else "ECS"
    if controller == wanted:
        return
    if wanted == "CODE_DEPLOY":
        reason = (
            f"{where} is deployed by {controller}, not by CodeDeploy: the blueprint ecs-blue-green needs a "
            "service created with the deployment controller CODE_DEPLOY (ECS cannot change a service's "
            "controller; its owner creates the service anew), or choose the blueprint ecs-rolling"
        )
    else:
        reason = (
            f"{where} has the deployment controller {controller}: the blueprint {settings.blueprint} "
            "updates a service that ECS deploys itself (controller ECS), and ECS refuses a new task "
            "definition to a CODE_DEPLOY service; choose the blueprint ecs-blue-green for it"
        )
    raise ContractViolation(f"{prefix}:blueprint", settings.blueprint, reason)


def _load_balancing(
    clients: Clients, settings: RepositorySettings, prefix: str, service: Mapping[str, Any]
) -> _LoadBalancing:
    """The service's target group, the test target group and the production listener, each proven
    the repository's; the listener is the one of the service's load balancer that forwards to either
    target group (after a deployment it forwards to the other one)."""
    where = f"ECS service {settings.ecs_service} in cluster {settings.ecs_cluster}"
    balancers = [b for b in service.get("loadBalancers") or [] if b.get("targetGroupArn")]
    if not balancers:
        raise ContractViolation(
            f"{prefix}:ecs-service",
            settings.ecs_service,
            f"{where} has no load balancer target group: a blue/green deployment shifts a load "
            "balancer's listener between two target groups",
        )
    balancer = balancers[0]
    if balancer.get("containerName") != settings.container:
        raise ContractViolation(
            f"{prefix}:container",
            settings.container,
            f"{where} sends its load balancer's traffic to the container {balancer.get('containerName')!r}: "
            f"set {prefix}:container to it (CodeDeploy puts the new image there)",
        )
    elbv2 = clients.elbv2
    production_arn = str(balancer["targetGroupArn"])
    try:
        test = call(elbv2.describe_target_groups, Names=[settings.test_target_group])["TargetGroups"]
    except NotFound:
        test = []
    if not test:
        raise ContractViolation(
            f"{prefix}:test-target-group",
            settings.test_target_group,
            f"target group {settings.test_target_group} not found",
        )
    test_arn = str(test[0]["TargetGroupArn"])
    if test_arn == production_arn:
        raise ContractViolation(
            f"{prefix}:test-target-group",
            settings.test_target_group,
            f"is the target group {where} already uses: name the second one",
        )
    production = call(elbv2.describe_target_groups, TargetGroupArns=[production_arn])["TargetGroups"][0]
    load_balancers = list(production.get("LoadBalancerArns") or [])
    listener_arn = ""
    if load_balancers:
        listeners = call(elbv2.describe_listeners, LoadBalancerArn=load_balancers[0]).get("Listeners", [])
        forwarding = [
            listener
            for listener in listeners
            if {production_arn, test_arn}
            & set(_forwarded_target_groups(listener.get("DefaultActions") or []))
        ]
        if len(forwarding) == 1:
            listener_arn = str(forwarding[0]["ListenerArn"])
    if not listener_arn:
        raise ContractViolation(
            f"{prefix}:ecs-service",
            settings.ecs_service,
            f"the load balancer of {where}'s target group {production['TargetGroupName']} needs exactly one "
            "listener whose default action forwards to it or to the test target group (the production "
            "listener CodeDeploy shifts)",
        )
    arns = [production_arn, test_arn, listener_arn]
    described = call(clients.elbv2.describe_tags, ResourceArns=arns).get("TagDescriptions", [])
    tags = {str(d["ResourceArn"]): tag_map(d.get("Tags")) for d in described}
    for arn, key, value, what in (
        (
            production_arn,
            "ecs-service",
            settings.ecs_service,
            f"target group {production['TargetGroupName']} of {where}",
        ),
        (
            test_arn,
            "test-target-group",
            settings.test_target_group,
            f"target group {settings.test_target_group}",
        ),
        (listener_arn, "ecs-service", settings.ecs_service, f"the production listener {listener_arn}"),
    ):
        named = tags.get(arn, {}).get(owner_key(prefix))
        if named != settings.repository:
            raise ContractViolation(f"{prefix}:{key}", value, _not_yours(what, named, prefix, settings))
    names = (str(production["TargetGroupName"]), str(test[0]["TargetGroupName"]))
    return _LoadBalancing(names, listener_arn, str(balancer.get("containerPort") or ""))


def _forwarded_target_groups(actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """The target groups a listener's actions forward to (a plain forward, or a weighted one)."""
    found: list[str] = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            found.append(str(action["TargetGroupArn"]))
        for group in (action.get("ForwardConfig") or {}).get("TargetGroups") or []:
            if group.get("TargetGroupArn"):
                found.append(str(group["TargetGroupArn"]))
    return found


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
