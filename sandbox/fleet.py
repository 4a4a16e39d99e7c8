"""What benchmarks set up again and again: an ECS service `apps/web` and repositories enrolled for it."""

from __future__ import annotations

from typing import Any


def ensure_service(sandbox: Any) -> None:
    """The ECS cluster `apps` with the service `web`, created once per sandbox."""
    ecs = sandbox.client("ecs")
    if ecs.list_clusters()["clusterArns"]:
        return
    ecs.create_cluster(clusterName="apps")
    ecs.register_task_definition(
        family="web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}]
    )
    ecs.create_service(cluster="apps", serviceName="web", taskDefinition="web", desiredCount=1)


def enroll(sandbox: Any, repo: str, **extra: str) -> str:
    """Create the repository, tag it for `apps/web` (plus `extra` tags, `_` for `-`); its pipeline's name."""
    ensure_service(sandbox)
    codecommit = sandbox.client("codecommit")
    arn = codecommit.create_repository(repositoryName=repo)["repositoryMetadata"]["Arn"]
    tags = {"pipewarden:enabled": "true", "pipewarden:ecs-cluster": "apps", "pipewarden:ecs-service": "web"}
    tags.update({f"pipewarden:{k.replace('_', '-')}": v for k, v in extra.items()})
    codecommit.tag_resource(resourceArn=arn, tags=tags)
    sandbox.wait_idle()
    return f"pipewarden-{repo}"
