"""CodeCommit: tags, repository listing and the events AWS emits for them (moto 5.2.5 lacks these)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any

from moto.codecommit import models as cc_models
from moto.codecommit import responses as cc_responses
from moto.codecommit.exceptions import RepositoryDoesNotExistException
from moto.core.exceptions import JsonRESTError
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource
from moto.moto_api._internal import mock_random

from sandbox.moto_ext import publish
from sandbox.moto_ext.urls import ServedLikeMoto


class CodeCommitBackend(ServedLikeMoto, cc_models.CodeCommitBackend, TaggableResourcesMixin):
    """moto's backend plus tags (kept per repository) and the Resource Groups Tagging API view."""

    SERVICE_NAMESPACE = "codecommit"

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.tags: dict[str, dict[str, str]] = {}
        self.branches: dict[str, dict[str, str]] = {}  # repository -> branch -> commit id
        self.commits: dict[str, dict[str, Any]] = {}  # commit id -> GetCommit's commit
        self.trees: dict[str, dict[str, bytes]] = {}  # commit id -> path -> content

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

    def put_file(
        self,
        repository_name: str,
        branch_name: str,
        file_path: str,
        content: bytes,
        parent_commit_id: str | None,
        message: str,
        name: str,
        email: str,
    ) -> dict[str, str]:
        """Commit one file to a branch, as PutFile does, and emit the reference change event."""
        if repository_name not in self.repositories:
            raise RepositoryDoesNotExistException(repository_name)
        branches = self.branches.setdefault(repository_name, {})
        old = branches.get(branch_name)
        if old and parent_commit_id != old:
            code = (
                "ParentCommitIdRequiredException"
                if not parent_commit_id
                else "ParentCommitIdOutdatedException"
            )
            raise JsonRESTError(
                code, f"The parent commit ID is {'required' if not parent_commit_id else 'not the tip'}."
            )
        commit_id = hashlib.sha1(
            f"{old}{file_path}{content!r}{message}{mock_random.uuid4()}".encode()
        ).hexdigest()
        now = datetime.datetime.now(datetime.UTC)
        person = {
            "name": name or "sandbox",
            "email": email or "sandbox@example.com",
            "date": f"{int(now.timestamp())} +0000",
        }
        self.commits[commit_id] = {
            "commitId": commit_id,
            "treeId": hashlib.sha1(commit_id.encode()).hexdigest(),
            "parents": [old] if old else [],
            "message": message or "",
            "author": person,
            "committer": person,
            "additionalData": "",
            "files": {file_path: len(content)},
        }
        # The commit's tree: its parent's files and this one (what a build of it reads).
        self.trees[commit_id] = {**self.trees.get(old or "", {}), file_path: content}
        branches[branch_name] = commit_id
        repo = self.repositories[repository_name].repository_metadata
        detail: dict[str, Any] = {
            "callerUserArn": f"arn:aws:iam::{self.account_id}:user/sandbox",
            "commitId": commit_id,
            "event": "referenceUpdated" if old else "referenceCreated",
            "referenceFullName": f"refs/heads/{branch_name}",
            "referenceName": branch_name,
            "referenceType": "branch",
            "repositoryId": repo["repositoryId"],
            "repositoryName": repository_name,
        }
        if old:
            detail["oldCommitId"] = old
        publish.emit(
            publish.envelope(
                "aws.codecommit",
                "CodeCommit Repository State Change",
                detail,
                self.account_id,
                self.region_name,
                [repo["Arn"]],
            )
        )
        return {
            "commitId": commit_id,
            "blobId": hashlib.sha1(content).hexdigest(),
            "treeId": self.commits[commit_id]["treeId"],
        }

    def get_branch(self, repository_name: str, branch_name: str) -> dict[str, str]:
        commit = self.branches.get(repository_name, {}).get(branch_name)
        if repository_name not in self.repositories:
            raise RepositoryDoesNotExistException(repository_name)
        if commit is None:
            raise JsonRESTError("BranchDoesNotExistException", f"Branch {branch_name} does not exist.")
        return {"branchName": branch_name, "commitId": commit}

    def get_commit(self, repository_name: str, commit_id: str) -> dict[str, Any]:
        if repository_name not in self.repositories:
            raise RepositoryDoesNotExistException(repository_name)
        commit = self.commits.get(commit_id)
        if commit is None:
            raise JsonRESTError("CommitIdDoesNotExistException", f"Commit {commit_id} does not exist.")
        return {k: v for k, v in commit.items() if k != "files"}

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

    def put_file(self) -> str:
        result = self.codecommit_backend.put_file(
            self._get_param("repositoryName"),
            self._get_param("branchName"),
            self._get_param("filePath"),
            base64.b64decode(self._get_param("fileContent") or ""),
            self._get_param("parentCommitId"),
            self._get_param("commitMessage") or "",
            self._get_param("name") or "",
            self._get_param("email") or "",
        )
        return json.dumps(result)

    def get_branch(self) -> str:
        branch = self.codecommit_backend.get_branch(
            self._get_param("repositoryName"), self._get_param("branchName")
        )
        return json.dumps({"branch": branch})

    def get_commit(self) -> str:
        commit = self.codecommit_backend.get_commit(
            self._get_param("repositoryName"), self._get_param("commitId")
        )
        return json.dumps({"commit": commit})


def install() -> None:
    cc_models.codecommit_backends.backend = CodeCommitBackend
    for name in (
        "create_repository",
        "list_repositories",
        "tag_resource",
        "untag_resource",
        "list_tags_for_resource",
        "put_file",
        "get_branch",
        "get_commit",
    ):
        setattr(cc_responses.CodeCommitResponse, name, getattr(CodeCommitResponse, name))
