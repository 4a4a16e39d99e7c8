"""Names derived from a repository: the stack, pipeline and build project all share one."""

from __future__ import annotations

import hashlib
import re

# CodePipeline allows 100 characters, the tightest of the names that share this one.
MAX_NAME = 100
STACK_PREFIX = "pipewarden-"
_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
# CodePipeline's own patterns: pipeline and stage names, and execution ids (UUIDs).
_PIPELINE_OR_STAGE = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")
_EXECUTION_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")


def is_pipeline_name(value: object) -> bool:
    """A pipeline (or stage) name CodePipeline would accept: anything else cannot name one."""
    return isinstance(value, str) and bool(_PIPELINE_OR_STAGE.match(value))


def is_execution_id(value: object) -> bool:
    return isinstance(value, str) and bool(_EXECUTION_ID.match(value))


def stack_name(repository: str) -> str:
    """`pipewarden-<repository>`, with characters outside [A-Za-z0-9-] turned into '-'.

    A name that would be longer than 100 characters is cut and ends in a short hash of the
    full repository name, so two long names with a common beginning stay distinct.
    """
    name = STACK_PREFIX + _UNSAFE.sub("-", repository)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(repository.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - len(digest) - 1]}-{digest}"


# CodePipeline writes an execution's artifacts under the first 20 characters of the pipeline's name.
ARTIFACT_PREFIX_LENGTH = 20
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def pipeline_name(repository: str) -> str:
    """The pipeline's name: the stack's when it is shorter than 20 characters, else one with an id.

    CodePipeline keys artifacts by the first 20 characters of the pipeline name, so two names that
    share them would share artifacts (and each pipeline's roles could read and write the other's).
    A name shorter than 20 characters is its own prefix; any other gets an 8-character id of the
    repository name (40 bits) right after `pipewarden-`, so its first 20 characters are
    `pipewarden-<id>-`. Those can still collide by chance or on purpose: the enroll function
    refuses to create a pipeline whose prefix another pipeline already has.
    """
    name = stack_name(repository)
    if len(name) < ARTIFACT_PREFIX_LENGTH:
        return name
    digest = int.from_bytes(hashlib.sha256(repository.encode()).digest()[:5], "big")
    ident = "".join(_BASE32[(digest >> shift) & 31] for shift in range(35, -1, -5))
    return f"{STACK_PREFIX}{ident}-{name.removeprefix(STACK_PREFIX)}"[:MAX_NAME]


APPLICATION_PREFIX = "pipewarden-app-"


def application_name(repository: str) -> str:
    """The lambda blueprint's application stack, and the prefix of every function and log group in it.

    `pipewarden-app-<id>`: the id is 12 base32 characters (60 bits) of the repository name's hash, all
    of one length, so no repository's `<name>-*` matches another's (`pipewarden-app-web-*` would match
    the functions of a repository named web-admin). The deploy role may touch only names under it.
    """
    digest = int.from_bytes(hashlib.sha256(repository.encode()).digest()[:8], "big")
    ident = "".join(_BASE32[(digest >> shift) & 31] for shift in range(59, -1, -5))
    return APPLICATION_PREFIX + ident


def artifact_prefix(pipeline: str) -> str:
    """The key prefix (without the slash) CodePipeline writes the pipeline's artifacts under."""
    return pipeline[:ARTIFACT_PREFIX_LENGTH]


def repository_from_arn(arn: str) -> str:
    """The repository name of a CodeCommit ARN (`arn:aws:codecommit:<region>:<account>:<name>`)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "codecommit" or not parts[5]:
        raise ValueError(f"not a CodeCommit repository ARN: {arn!r}")
    return parts[5]
