"""What should exist, from the documents and the workload alone: the chaos checker's oracle.

The checker must not ask the code it checks. Every rule here is written from the README's tag
contract and security model (cited by line, README.md of this repository) and from AWS's own
documentation, never from `pipewarden.*`; `tests/sandbox/test_independent_oracles.py` fails if this
module (or `sandbox/invariants.py`) imports it. Where the documents do not settle a case, the oracle
says so (`Verdict.UNDETERMINED`) and the checker makes no claim, rather than guessing what the
product does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

PREFIX = "pipewarden"  # the TagPrefix parameter's default (README "Deploy to AWS")
STACK_PREFIX = "pipewarden-"
# CodePipeline keys an execution's artifacts by the first 20 characters of the pipeline's name
# (README "Security model"); it allows names of up to 100 characters
# (https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html).
ARTIFACT_PREFIX_LENGTH = 20
MAX_PIPELINE_NAME = 100
# CloudFormation stack names: up to 128 characters, letters, digits and hyphens
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html). The
# README names the stack `pipewarden-<repository>` (README "Architecture") and says nothing about a
# repository name that does not fit that rule, so the oracle covers only names that do.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9-]{1,89}$")

# CodeBuild's compute types for `small`, `medium`, `large` (README "The tag contract (v1)";
# https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html).
COMPUTE_TYPES = {
    "small": "BUILD_GENERAL1_SMALL",
    "medium": "BUILD_GENERAL1_MEDIUM",
    "large": "BUILD_GENERAL1_LARGE",
}
# The contract's defaults (README "The tag contract (v1)").
DEFAULTS = {
    "container": "",  # the repository name
    "branch": "main",
    "compute": "small",
    "retry": "transient",
    "max-retries": "2",
    "notify": "failures",
    "keep-executions": "10",
    "slack-channel": "",
}
CHOICES = {
    "compute": ("small", "medium", "large"),  # README "The tag contract (v1)"
    "retry": ("transient", "all", "off"),  # README "The tag contract (v1)"
    "notify": ("all", "failures", "off"),  # README "The tag contract (v1)"
}
RANGES = {"max-retries": range(0, 6), "keep-executions": range(1, 1001)}  # README "The tag contract (v1)"
# ECS cluster, service and container names: up to 255 letters, digits, hyphens and underscores
# (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html,
# API_CreateService.html, API_ContainerDefinition.html).
_ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# ECR repository names (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html).
_ECR_NAME = re.compile(r"^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_SLACK_CHANNEL = re.compile(r"^[a-z0-9_-]+$")  # README "The tag contract (v1)": lower case, digits, `-`, `_`
# git's rules for a ref name (https://git-scm.com/docs/git-check-ref-format), and `--branch`'s
# refusal of a leading '-'.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


class Verdict(enum.Enum):
    ENROLLED = "enrolled"  # a stack built from these tags
    UNENROLLED = "unenrolled"  # no stack (README "The tag contract (v1)")
    REJECTED = (
        "rejected"  # nothing new; an existing pipeline stays as it was (README "The tag contract (v1)")
    )
    UNDETERMINED = "undetermined"  # the documents do not say: no claim


@dataclass(frozen=True)
class Target:
    """What AWS holds about an ECS service a repository names (read by the checker, or known to
    the workload that made it)."""

    exists: bool
    owner: str | None = None  # its `<prefix>:repository` tag
    role_paths: tuple[str, ...] = ()  # the IAM paths of its task definition's task and execution roles


@dataclass(frozen=True)
class Expected:
    verdict: Verdict
    reason: str = ""
    settings: Mapping[str, str] | None = None  # every contract key, defaults applied (ENROLLED only)

    @property
    def retry_cap(self) -> int:
        """Retries a stage may get in one execution: `max-retries`, none when retries are `off`."""
        assert self.settings is not None
        return 0 if self.settings["retry"] == "off" else int(self.settings["max-retries"])


Targets = Callable[[str, str], Target]


def allowed(entries: Sequence[str], cluster: str, service: str) -> bool:
    """README "Deploy to AWS": a cluster pattern (`apps-*`) or a cluster/service pattern, with IAM's
    wildcards `*` and `?`; no entry allows nothing (README "Deploy to AWS")."""
    target = f"{cluster}/{service}"
    for entry in entries:
        pattern = entry if "/" in entry else f"{entry}/*"
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        if re.fullmatch(regex, target):
            return True
    return False


def allow_list(parameter: str) -> tuple[str, ...]:
    """The `AllowedEcsTargets` parameter: comma-separated, empty by default (README "Deploy to AWS")."""
    return tuple(entry.strip() for entry in parameter.split(",") if entry.strip())


def expect(
    repository: str,
    tags: Mapping[str, str],
    targets: Targets,
    allowed_targets: Sequence[str],
    prefix: str = PREFIX,
) -> Expected:
    """What one repository's tags ask for, by the contract's table (README "The tag contract (v1)")."""
    if (
        tags.get(f"{prefix}:enabled", "").strip().lower() != "true"
    ):  # README "The tag contract (v1)": in any case
        return Expected(Verdict.UNENROLLED, f"{prefix}:enabled is not `true`")
    values: dict[str, str] = {}
    for key, default in DEFAULTS.items():
        raw = tags.get(f"{prefix}:{key}")
        if raw == "" or (raw is not None and raw != raw.strip()):
            # An empty or padded value: the table neither allows nor rejects it.
            return Expected(Verdict.UNDETERMINED, f"{prefix}:{key}={raw!r}")
        values[key] = default if raw is None else raw
    values["container"] = values["container"] or repository
    values["ecr-repository"] = tags.get(f"{prefix}:ecr-repository") or repository.lower()
    for key in ("ecs-cluster", "ecs-service"):
        if not tags.get(f"{prefix}:{key}"):
            return _rejected(prefix, key, tags, "is required")
        values[key] = tags[f"{prefix}:{key}"]

    def rejected(key: str, rule: str) -> Expected:
        return _rejected(prefix, key, tags, rule)

    for key, choices in CHOICES.items():
        values[key] = values[
            key
        ].lower()  # README "The tag contract (v1)": `compute`, `retry`, `notify` in any case
        if values[key] not in choices:
            return rejected(key, f"is not one of {', '.join(choices)}")
    for key, numbers in RANGES.items():
        if not (values[key].isdigit() and int(values[key]) in numbers):
            return rejected(key, f"is not a whole number from {numbers.start} to {numbers.stop - 1}")
    for key in ("ecs-cluster", "ecs-service", "container"):
        if not _ECS_NAME.match(values[key]):
            return rejected(key, "is not an ECS name")
    if not _ECR_NAME.match(values["ecr-repository"]):
        return rejected("ecr-repository", "is not an ECR repository name")
    branch = values["branch"]
    if (
        _REF_FORBIDDEN.search(branch)
        or branch.startswith(("/", "-", "."))
        or branch.endswith(("/", ".", ".lock"))
    ):
        return rejected("branch", "is not a git branch name")
    if values["slack-channel"] and not _SLACK_CHANNEL.match(values["slack-channel"]):
        return rejected("slack-channel", "is not lower case, digits, '-' and '_'")
    if f"{prefix}:buildspec" in tags:
        # README "The tag contract (v1)" says "path of a buildspec in the repository" and no more.
        return Expected(Verdict.UNDETERMINED, f"{prefix}:buildspec: no documented rule")
    if not allowed(allowed_targets, values["ecs-cluster"], values["ecs-service"]):
        return rejected("ecs-cluster", "is not on the allow-list")
    target = targets(values["ecs-cluster"], values["ecs-service"])
    if (
        target.exists
    ):  # README "The tag contract (v1)": one that does not exist yet gets a pipeline with a warning
        if target.owner != repository:
            return rejected("ecs-service", f"does not carry {prefix}:repository={repository}")
        own = (
            f"/pipewarden-tasks/{repository}/",
            "/pipewarden-tasks/@shared/",
        )  # README "The tag contract (v1)"
        if any(path not in own for path in target.role_paths):
            return rejected("ecs-service", "has a role outside /pipewarden-tasks/<repository>/")
    return Expected(Verdict.ENROLLED, settings=values)


def _rejected(prefix: str, key: str, tags: Mapping[str, str], rule: str) -> Expected:
    return Expected(Verdict.REJECTED, f"{prefix}:{key}={tags.get(f'{prefix}:{key}')!r} {rule}")


def settled(history: Sequence[Expected]) -> Expected:
    """What should stand after the controller saw each of a repository's tag sets in turn.

    An enrollment builds; an unenrollment removes; a rejection leaves whatever stood before it
    (README "The tag contract (v1)": "the repository gets nothing (or keeps its current pipeline unchanged)").
    """
    standing = Expected(Verdict.UNENROLLED, "never enrolled")
    for expected in history:
        if expected.verdict is Verdict.UNDETERMINED:
            return expected
        if expected.verdict is not Verdict.REJECTED or standing.verdict is not Verdict.ENROLLED:
            standing = expected
    return standing


def stack_name(repository: str) -> str:
    """`pipewarden-<repository>` (README "Architecture"), for the names the documents cover."""
    if not _PLAIN_NAME.match(repository):
        raise ValueError(f"the README does not say how {repository!r} names a stack")
    return STACK_PREFIX + repository


def is_pipeline_of(repository: str, pipeline: str) -> bool:
    """Whether `pipeline` has the name the README gives the repository's pipeline.

    README "Security model": a name shorter than 20 characters is kept (`pipewarden-shop`); any other is
    `pipewarden-<8-character id of the repository>-<repository>` (cut at CodePipeline's 100). The
    README does not say how the id is computed, so any 8 letters or digits are taken for one.
    """
    short = stack_name(repository)
    if len(short) < ARTIFACT_PREFIX_LENGTH:
        return pipeline == short
    if not re.fullmatch(r"pipewarden-[a-z0-9]{8}-.*", pipeline):
        return False
    return pipeline == f"{pipeline[:20]}{repository}"[:MAX_PIPELINE_NAME]


def pipeline_of(repository: str, pipelines: Iterable[str]) -> list[str]:
    """The pipelines named as the repository's (one, when all is well)."""
    return [name for name in pipelines if is_pipeline_of(repository, name)]


def role_path(arn: str) -> str:
    """An IAM role ARN's path: `arn:aws:iam::<account>:role/<path>/<name>`
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns)."""
    parts = arn.split(":", 5)[-1].split("/")
    return "/" + "".join(f"{p}/" for p in parts[1:-1])
