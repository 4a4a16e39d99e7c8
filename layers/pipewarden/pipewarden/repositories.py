"""What CodeCommit says of a repository: its ARN and tags, shared by enroll and notify."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipewarden.aws import call

if TYPE_CHECKING:
    from mypy_boto3_codecommit import CodeCommitClient


def read_tags(codecommit: CodeCommitClient, name: str) -> tuple[str, dict[str, str]]:
    """The repository's ARN and tags (GetRepository, ListTagsForResource). Raises `NotFound` when the
    repository does not exist."""
    arn = call(codecommit.get_repository, repositoryName=name)["repositoryMetadata"]["Arn"]
    return arn, call(codecommit.list_tags_for_resource, resourceArn=arn).get("tags", {})
