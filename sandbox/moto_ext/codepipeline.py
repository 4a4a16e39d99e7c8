"""CodePipeline: pipelines in the Resource Groups Tagging API (moto 5.2.5 leaves them out)."""

from __future__ import annotations

from typing import Any

from moto.codepipeline import models as cp_models
from moto.core.resource_tagging import TaggableResourcesMixin, TaggedResource

from sandbox.moto_ext.urls import ServedLikeMoto


class CodePipelineBackend(ServedLikeMoto, cp_models.CodePipelineBackend, TaggableResourcesMixin):
    SERVICE_NAMESPACE = "codepipeline"

    def iter_tagged_resources(self) -> Any:
        for pipeline in self.pipelines.values():
            yield TaggedResource(
                arn=pipeline.metadata["pipelineArn"],
                tags=dict(pipeline.tags),
                resource_type="codepipeline:pipeline",
            )


def install() -> None:
    cp_models.codepipeline_backends.backend = CodePipelineBackend
