"""CodeCommit: tags, repository listing and the events AWS emits for them (moto 5.2.5 lacks these)."""

from __future__ import annotations

import json
from typing import Any

from moto.codecommit import models as cc_models
from moto.codecommit import responses as cc_responses
from moto.codecommit.exceptions import RepositoryDoesNotExistException
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource

from sandbox.moto_ext import publish
from sandbox.moto_ext.urls import ServedLikeMoto


class CodeCommitBackend(ServedLikeMoto, cc_models.CodeCommitBackend, TaggableResourcesMixin):
    """moto's backend plus tags (kept per repository) and the Resource Groups Tagging API view."""

    SERVICE_NAMESPACE = "codecommit"

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.tags: dict[str, dict[str, str]] = {}

    def _name_from_arn(self, arn: str) -> str:
        name = arn.split(":", 5)[-1]
        if name not in self.repositories or self.repositories[name].repository_metadata["Arn"] != arn:
            raise RepositoryDoesNotExistException(name)
        return name

    def create_repository(
        self, repository_name: str, repository_description: str, tags: dict[str, str] | None = None
    ) -> dict[str, str]:
        metadata = super().create_repository(repository_name, repository_description)
        self.tags[repository_name] = dict(tags or {})
        request: dict[str, Any] = {
            "repositoryName": repository_name,
            "repositoryDescription": repository_description,
        }
        if tags:
            request["tags"] = tags
        publish.emit(
            publish.cloudtrail("codecommit", "CreateRepository", request, self.account_id, self.region_name)
        )
        if tags:
            self._tag_event(metadata["Arn"], list(tags), repository_name)
        return metadata

    def delete_repository(self, repository_name: str) -> str | None:
        repository_id = super().delete_repository(repository_name)
        self.tags.pop(repository_name, None)
        if repository_id:
            request = {"repositoryName": repository_name}
            publish.emit(
                publish.cloudtrail(
                    "codecommit", "DeleteRepository", request, self.account_id, self.region_name
                )
            )
        return repository_id

    def list_repositories(self) -> list[dict[str, str]]:
        return [
            {"repositoryName": name, "repositoryId": repo.repository_metadata["repositoryId"]}
            for name, repo in sorted(self.repositories.items())
        ]

    def list_tags_for_resource(self, arn: str) -> dict[str, str]:
        return dict(self.tags.get(self._name_from_arn(arn), {}))

    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        name = self._name_from_arn(arn)
        self.tags.setdefault(name, {}).update(tags)
        publish.emit(
            publish.cloudtrail(
                "codecommit",
                "TagResource",
                {"resourceArn": arn, "tags": tags},
                self.account_id,
                self.region_name,
            )
        )
        self._tag_event(arn, list(tags), name)

    def untag_resource(self, arn: str, tag_keys: list[str]) -> None:
        name = self._name_from_arn(arn)
        current = self.tags.setdefault(name, {})
        removed = [k for k in tag_keys if k in current]
        for key in removed:
            del current[key]
        publish.emit(
            publish.cloudtrail(
                "codecommit",
                "UntagResource",
                {"resourceArn": arn, "tagKeys": tag_keys},
                self.account_id,
                self.region_name,
            )
        )
        if removed:
            self._tag_event(arn, removed, name)

    def _tag_event(self, arn: str, changed: list[str], name: str) -> None:
        publish.emit(
            publish.tag_change(
                "codecommit",
                "repository",
                arn,
                changed,
                self.tags.get(name, {}),
                self.account_id,
                self.region_name,
            )
        )

    def iter_tagged_resources(self) -> Any:
        for name, repo in self.repositories.items():
            yield TaggedResource(
                arn=repo.repository_metadata["Arn"],
                tags=dict(self.tags.get(name, {})),
                resource_type="codecommit:repository",
            )


class CodeCommitResponse:
    """Operations added to moto's CodeCommitResponse (dispatched by name, as moto does)."""

    codecommit_backend: CodeCommitBackend
    _get_param: Any

    def create_repository(self) -> str:
        name = self._get_param("repositoryName")
        if not cc_responses._is_repository_name_valid(name):
            raise cc_responses.InvalidRepositoryNameException()
        metadata = self.codecommit_backend.create_repository(
            name, self._get_param("repositoryDescription"), self._get_param("tags")
        )
        return json.dumps({"repositoryMetadata": metadata})

    def list_repositories(self) -> str:
        return json.dumps({"repositories": self.codecommit_backend.list_repositories()})

    def tag_resource(self) -> str:
        self.codecommit_backend.tag_resource(self._get_param("resourceArn"), self._get_param("tags"))
        return "{}"

    def untag_resource(self) -> str:
        self.codecommit_backend.untag_resource(self._get_param("resourceArn"), self._get_param("tagKeys"))
        return "{}"

    def list_tags_for_resource(self) -> str:
        tags = self.codecommit_backend.list_tags_for_resource(self._get_param("resourceArn"))
        return json.dumps({"tags": tags})


def install() -> None:
    cc_models.codecommit_backends.backend = CodeCommitBackend
    for name in (
        "create_repository",
        "list_repositories",
        "tag_resource",
        "untag_resource",
        "list_tags_for_resource",
    ):
        setattr(cc_responses.CodeCommitResponse, name, getattr(CodeCommitResponse, name))
