"""ECS: the tasks a failed deployment leaves behind, and ListTasks' serviceName filter.

moto 5.2.5 never launches a service's tasks and ignores ListTasks' `serviceName` ("TODO" in its
backend), so a deployment whose tasks fail to start leaves nothing to read. AWS keeps stopped tasks
for a while (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-errors.html),
each with its `stoppedReason`, `stopCode` and its containers' `reason`; the sandbox records them the
same way when a scripted ECS deploy fails with `stopped_reasons`, in the task group ECS gives a
service's tasks (`service:<name>`), which is what ListTasks(serviceName=...) answers with.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends

_list_tasks = EC2ContainerServiceBackend.list_tasks


def install() -> None:
    def list_tasks(self: Any, *args: Any, **kwargs: Any) -> Any:
        """AWS's ListTasks: `serviceName` keeps the tasks of that service (moto ignores it)."""
        names = ("cluster_str", "container_instance", "family", "started_by", "service_name", "desiredStatus")
        given = dict(zip(names, args, strict=False)) | kwargs
        service_name = given.pop("service_name", None)
        tasks = _list_tasks(self, **given)
        if service_name:
            name = str(service_name).rsplit("/", 1)[-1]
            tasks = [task for task in tasks if task.group == f"service:{name}"]
        return tasks

    EC2ContainerServiceBackend.list_tasks = list_tasks


def stop_failed_tasks(
    account: str, region: str, cluster: str, service: str, reasons: Sequence[str]
) -> list[str]:
    """One stopped task of the service per reason, as a deployment whose tasks failed leaves them.

    A reason "A | B" gives the task `stoppedReason` A and its container `reason` B (AWS puts the
    cause of a failed start on the task and a container's own error on the container).
    """
    backend = ecs_backends[account][region]
    found, _ = backend.describe_services(cluster, [service])
    if not found:
        return []
    live = found[0]
    definition = backend.describe_task_definition(live.task_definition)
    arns = []
    for reason in reasons:
        task_reason, _, container_reason = (part.strip() for part in reason.partition(" | "))
        task = Task(
            backend._get_cluster(cluster),
            definition,
            None,
            None,
            backend,
            group=f"service:{live.name}",
            launch_type=live.launch_type or "FARGATE",
            started_by=live.deployments[0]["id"] if getattr(live, "deployments", None) else "ecs-svc/1",
            networking_configuration=getattr(live, "network_configuration", None) or None,
        )
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopped_reason = task_reason
        exited = task_reason.startswith("Essential container")
        task.stop_code = "EssentialContainerExited" if exited else "TaskFailedToStart"
        task.stopped_at = datetime.datetime.now(datetime.UTC)
        for container in task.containers:
            container.last_status = "STOPPED"
            if container_reason:
                container.reason = container_reason
        backend.tasks.setdefault(live.cluster_name, {})[task.task_arn] = task
        arns.append(task.task_arn)
    return arns


# What DescribeTaskDefinition answers that RegisterTaskDefinition takes again (a new revision of the
# same family, with the same roles, which ECS passes: iam:PassRole).
TASK_DEFINITION_INPUTS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
)
