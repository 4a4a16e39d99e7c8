"""What pipewarden needs and moto 5.2.5 lacks, written in moto's own backend/response style."""

from __future__ import annotations

_installed = False


def install() -> None:
    """Patch moto once, before the first backend of an extended service is created."""
    global _installed  # noqa: PLW0603 - moto's registries are process-wide; so is this switch
    if _installed:
        return
    from sandbox.moto_ext import (
        cloudformation,
        codebuild,
        codecommit,
        codepipeline,
        ecr,
        ecs,
        events,
        iam,
        logs,
        s3,
        stack_pages,
        tagging,
    )

    for module in (
        codecommit,
        codepipeline,
        codebuild,
        cloudformation,
        stack_pages,
        tagging,
        events,
        s3,
        ecr,
        ecs,
        iam,
        logs,
    ):
        module.install()
    _installed = True
