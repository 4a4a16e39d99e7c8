"""What the demo, benchmarks, chaos and tests set up again and again: ECS services that take a
repository's images (with the ownership tags a platform team's service owners would set), and
repositories enrolled for them."""

from __future__ import annotations

import json
from typing import Any

PREFIX = "pipewarden"
# The controller's AllowedEcsTargets for the services these helpers create.
ALLOWED = "apps"
PARAMETERS = {"AllowedEcsTargets": ALLOWED}
_TASKS_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def owner_tag(repository: str, prefix: str = PREFIX) -> dict[str, str]:
    return {f"{prefix}:repository": repository}


def ensure_role(sandbox: Any, name: str, owner: str | None) -> str:
    """An ECS task role under `/pipewarden-tasks/<owner>/` (`@shared`: any pipeline's; None: the root
    path, which no pipeline may pass); its ARN."""
    from pipewarden.ownership import task_role_path

    iam = sandbox.client("iam")
    path = task_role_path(owner) if owner else "/"
    try:
        arn = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=_TASKS_TRUST)["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    return str(arn)


def deploy_target(
    sandbox: Any,
    repository: str,
    cluster: str = "apps",
    service: str = "web",
    roles: bool = True,
    owner: str | None = "",
    prefix: str = PREFIX,
    container: str = "",
    role_prefix: str = "",
) -> tuple[str, str]:
    """An ECS service that takes `repository`'s images, as its owner would set it up.

    The cluster, a task definition whose task and execution roles (with `roles`) live under
    `/pipewarden-tasks/<owner>/`, and the service tagged `<prefix>:repository=<owner>`. `owner`
    defaults to the repository; None leaves the tag out and the roles at the root path (a service
    that never opted in). The roles are named `<role_prefix>-task` and `<role_prefix>-execution`
    (the service's name by default).
    """
    owner = repository if owner == "" else owner
    ecs = sandbox.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    extra = {}
    if roles:
        extra = {
            "taskRoleArn": ensure_role(sandbox, f"{role_prefix or service}-task", owner),
            "executionRoleArn": ensure_role(sandbox, f"{role_prefix or service}-execution", owner),
        }
    ecs.register_task_definition(
        family=service,
        containerDefinitions=[{"name": container or service, "image": "nginx", "memory": 128}],
        **extra,
    )
    tags = [{"key": k, "value": v} for k, v in owner_tag(owner, prefix).items()] if owner else []
    ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=service, desiredCount=1, tags=tags
    )
    return cluster, service


def blue_green_target(
    sandbox: Any,
    repository: str,
    cluster: str = "apps",
    service: str = "web",
    owner: str | None = "",
    prefix: str = PREFIX,
    controller: str = "CODE_DEPLOY",
    owned: tuple[str, ...] = ("blue", "green", "listener"),
    port: int = 8080,
) -> dict[str, str]:
    """An ECS service behind an Application Load Balancer, as its owner sets it up for ecs-blue-green.

    Two target groups `<service>-blue` (the service's) and `<service>-green`, a listener forwarding to
    blue, and the service (deployment controller `controller`) sending traffic to its container on
    `port`. `owned` names which of blue, green and listener carry `<prefix>:repository=<owner>`.
    Returns the names and ARNs (cluster, service, blue, green, blue_arn, green_arn, listener_arn).
    """
    owner = repository if owner == "" else owner
    ec2 = sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((1, "a"), (2, "b"))
    ]
    elbv2 = sandbox.client("elbv2")
    tag = [{"Key": k, "Value": v} for k, v in owner_tag(owner, prefix).items()] if owner else []
    balancer = elbv2.create_load_balancer(Name=f"{service}-alb"[:32], Subnets=subnets)["LoadBalancers"][0]
    groups = {}
    for color in ("blue", "green"):
        created = elbv2.create_target_group(
            Name=f"{service}-{color}"[:32], Protocol="HTTP", Port=port, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]
        groups[color] = created["TargetGroupArn"]
        if color in owned and tag:
            elbv2.add_tags(ResourceArns=[created["TargetGroupArn"]], Tags=tag)
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Listeners"][0]
    if "listener" in owned and tag:
        elbv2.add_tags(ResourceArns=[listener["ListenerArn"]], Tags=tag)
    ecs = sandbox.client("ecs")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=service,
        containerDefinitions=[
            {
                "name": owner or service,
                "image": "nginx",
                "memory": 128,
                "portMappings": [{"containerPort": port}],
            }
        ],
        taskRoleArn=ensure_role(sandbox, f"{service}-task", owner),
        executionRoleArn=ensure_role(sandbox, f"{service}-execution", owner),
    )
    ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition=service,
        desiredCount=1,
        deploymentController={"type": controller},
        loadBalancers=[
            {"targetGroupArn": groups["blue"], "containerName": owner or service, "containerPort": port}
        ],
        tags=[{"key": k, "value": v} for k, v in owner_tag(owner, prefix).items()] if owner else [],
    )
    return {
        "cluster": cluster,
        "service": service,
        "blue": f"{service}-blue"[:32],
        "green": f"{service}-green"[:32],
        "blue_arn": groups["blue"],
        "green_arn": groups["green"],
        "listener_arn": listener["ListenerArn"],
    }


def enroll(sandbox: Any, repo: str, **extra: str) -> str:
    """Create the repository and its service `apps/<repo>`, tag it for that service (plus `extra`
    tags, `_` for `-`); the name of its pipeline."""
    from pipewarden.naming import pipeline_name

    cluster, service = deploy_target(sandbox, repo, service=repo)
    codecommit = sandbox.client("codecommit")
    arn = codecommit.create_repository(repositoryName=repo)["repositoryMetadata"]["Arn"]
    codecommit.tag_resource(resourceArn=arn, tags=enroll_tags(cluster, service, **extra))
    sandbox.wait_idle()
    return pipeline_name(repo)


def enroll_tags(cluster: str, service: str, prefix: str = PREFIX, **extra: str) -> dict[str, str]:
    """The tags that enroll a repository for `cluster/service` (`extra`: more keys, `_` for `-`)."""
    tags = {f"{prefix}:enabled": "true", f"{prefix}:ecs-cluster": cluster, f"{prefix}:ecs-service": service}
    tags.update({f"{prefix}:{k.replace('_', '-')}": v for k, v in extra.items()})
    return tags


def edit_stack_by_hand(sandbox: Any, stack: str, token: str = "") -> dict[str, str]:
    """What a person does in the console: set the stack's log retention to 1 day, all else as it was.
    Returns the parameters it had; raises ClientError if the stack is gone or busy."""
    cfn = sandbox.client("cloudformation")
    current = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    kept = {p["ParameterKey"]: p.get("ParameterValue", "") for p in current.get("Parameters", [])}
    parameters: list[dict[str, Any]] = [
        {"ParameterKey": k, "UsePreviousValue": True} for k in kept if k != "LogRetentionDays"
    ]
    parameters.append({"ParameterKey": "LogRetentionDays", "ParameterValue": "1"})
    cfn.update_stack(
        StackName=stack,
        UsePreviousTemplate=True,
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM"],
        **({"ClientRequestToken": token} if token else {}),
    )
    return kept


# A team's SAM template as the lambda blueprint asks for it (README "Blueprints"): the three parameters
# the pipeline fills, used for the functions' names, their roles' path and their roles' boundary.
SAM_PARAMETERS = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  PipewardenApplicationName: {Type: String}
  PipewardenRolePath: {Type: String}
  PipewardenBoundaryArn: {Type: String}
"""


def sam_application(function: str = "hello", memory: int = 128) -> str:
    """A SAM application of one function `<application>-<function>`, bounded and placed as it must be."""
    return (
        SAM_PARAMETERS
        + f"""\
Globals:
  Function:
    PermissionsBoundary: !Ref PipewardenBoundaryArn
    RolePath: !Ref PipewardenRolePath
Resources:
  {function.title()}:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub ${{PipewardenApplicationName}}-{function}
      Runtime: python3.13
      Handler: app.handler
      CodeUri: src/
      MemorySize: {memory}
"""
    )
