"""CodeBuild: builds the sandbox ran keep the status and phases they ended with.

moto 5.2.5's BatchGetBuilds reports every build SUCCEEDED, whatever happened; builds the execution
simulator finished are returned as it recorded them.
"""

from __future__ import annotations

from typing import Any

from moto.codebuild import models as cb_models

from sandbox.moto_ext.urls import ServedLikeMoto


class CodeBuildBackend(ServedLikeMoto, cb_models.CodeBuildBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.finished_builds: dict[str, dict[str, Any]] = {}

    def batch_get_builds(self, ids: list[str]) -> list[dict[str, Any]]:
        others = [i for i in ids if i not in self.finished_builds]
        found = {b["id"]: b for b in super().batch_get_builds(others)} if others else {}
        found.update({i: self.finished_builds[i] for i in ids if i in self.finished_builds})
        return [found[i] for i in ids if i in found]


def install() -> None:
    cb_models.codebuild_backends.backend = CodeBuildBackend
