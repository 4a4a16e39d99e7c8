"""The tag contract: a repository's tags <-> validated pipeline settings (or a precise rejection)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ECR = re.compile(r"^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_BRANCH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
_BUILDSPEC = re.compile(r"^[A-Za-z0-9_./-]{1,255}\.ya?ml$")

COMPUTE_TYPES = {
    "small": "BUILD_GENERAL1_SMALL",
    "medium": "BUILD_GENERAL1_MEDIUM",
    "large": "BUILD_GENERAL1_LARGE",
}
RETRY_MODES = ("transient", "all", "off")
NOTIFY_MODES = ("all", "failures", "off")
MAX_RETRIES_RANGE = range(6)
# What a repository's pipeline does after its build (`<prefix>:blueprint`); README "Blueprints".
BLUEPRINTS = ("ecs-rolling", "ecs-blue-green", "lambda", "build-only")
DEFAULT_BLUEPRINT = "ecs-rolling"
# The blueprints that deploy to an ECS service: they read ecs-cluster/ecs-service and the allow-list.
ECS_BLUEPRINTS = ("ecs-rolling", "ecs-blue-green")
# The blueprints whose build pushes a container image: they read container and ecr-repository.
IMAGE_BLUEPRINTS = (*ECS_BLUEPRINTS, "build-only")
# A controller allows these unless its AllowedBlueprints parameter says otherwise.
DEFAULT_ALLOWED_BLUEPRINTS = ("ecs-rolling", "ecs-blue-green", "build-only")
# The blueprint that deploys through CodeDeploy: it reads the tags below (and its service's load balancer).
BLUE_GREEN_BLUEPRINTS = ("ecs-blue-green",)
# An Elastic Load Balancing target group's name: 1-32 letters, digits and '-', not starting or ending
# with '-' (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html).
_TARGET_GROUP = re.compile(r"^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$")
# A CloudWatch alarm's name as a tag can carry it: no comma (the list separator). A deployment group
# takes up to 10 (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_AlarmConfiguration.html);
# the blueprint writes each as its own entry, which CloudFormation cannot repeat for a list: three.
_ALARM = re.compile(r"^[A-Za-z0-9 _./#:@+=-]{1,255}$")
MAX_ROLLBACK_ALARMS = 3
# The blueprints that deploy a serverless application (a SAM template of the repository) through a
# CloudFormation change set: they read sam-template.
APPLICATION_BLUEPRINTS = ("lambda",)
# The blueprints a controller allows only when its AllowedBlueprints lists them: lambda's deploy role
# creates functions and roles from a template the team writes, so a platform team opts in (README
# "Blueprints").
OPT_IN_BLUEPRINTS = tuple(b for b in BLUEPRINTS if b not in DEFAULT_ALLOWED_BLUEPRINTS)
# Names the secret pipewarden/slack/<channel>, so it may not leave that prefix.
SLACK_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEEP_EXECUTIONS_RANGE = range(1, 1001)

# Keys that change the pipeline; every other key of the prefix is reported as unknown.
KNOWN_KEYS = (
    "enabled",
    "blueprint",
    "ecs-cluster",
    "ecs-service",
    "container",
    "ecr-repository",
    "branch",
    "buildspec",
    "compute",
    "retry",
    "max-retries",
    "notify",
    "keep-executions",
    "slack-channel",
    "test-target-group",
    "rollback-alarms",
    "sam-template",
)


class ContractViolation(ValueError):
    """A tag is missing or has a value the contract does not allow."""

    def __init__(self, key: str, value: str | None, reason: str) -> None:
        shown = "(missing)" if value is None else repr(value)
        super().__init__(f"{key}={shown}: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class RepositorySettings:
    """Everything the blueprint needs to know about one enrolled repository.

    `ecs_cluster` and `ecs_service` are empty for a blueprint that deploys nowhere on ECS.
    """

    repository: str
    ecs_cluster: str
    ecs_service: str
    container: str
    ecr_repository: str
    branch: str = "main"
    buildspec: str = ""
    compute: str = "small"
    retry: str = "transient"
    max_retries: int = 2
    notify: str = "failures"
    keep_executions: int = 10
    slack_channel: str = ""
    blueprint: str = DEFAULT_BLUEPRINT
    # ecs-blue-green only: the target group CodeDeploy starts the new tasks behind (the service's own
    # load balancer names the other), and the CloudWatch alarms that roll a deployment back.
    test_target_group: str = ""
    rollback_alarms: tuple[str, ...] = ()
    # The SAM template `sam build` reads (lambda): a path in the repository.
    sam_template: str = ""

    @property
    def deploys_with_codedeploy(self) -> bool:
        return self.blueprint in BLUE_GREEN_BLUEPRINTS

    @property
    def deploys_application(self) -> bool:
        return self.blueprint in APPLICATION_BLUEPRINTS

    @property
    def deploys_to_ecs(self) -> bool:
        return self.blueprint in ECS_BLUEPRINTS

    @property
    def pushes_image(self) -> bool:
        return self.blueprint in IMAGE_BLUEPRINTS

    @property
    def pipeline(self) -> PipelineSettings:
        """What the blueprint writes onto the pipeline's tags for retry, notify and prune to read."""
        return PipelineSettings(
            managed=True,
            retry=self.retry,
            max_retries=self.max_retries,
            notify=self.notify,
            slack_channel=self.slack_channel,
            keep_executions=self.keep_executions,
        )


# The keys a pipeline's tags hold for the retry, notify and prune functions.
PIPELINE_KEYS = ("retry", "max-retries", "notify", "slack-channel", "keep-executions")


@dataclass(frozen=True)
class PipelineSettings:
    """What one pipeline's tags ask of pipewarden's retry, notify and prune: the only reading of them.

    A pipeline pipewarden made (`<prefix>:managed-by=pipewarden`) or an enrolled repository
    (`<prefix>:enabled=true`) takes the contract's default for every key it lacks. A pipeline a team
    tagged itself opts in one function at a time: retried only with a retry tag, told only with a
    notify tag, pruned only with a keep-executions tag (None below: that function leaves it alone).

    A value outside the contract never makes pipewarden do more: a bad retry or max-retries turns
    retries off (the retry function reports why), a bad notify level falls back to `failures` (a
    typo must not silence failures), a bad slack-channel to the default channel, a bad
    keep-executions to the default 10. Each is listed in `problems` as (key, what is wrong).
    """

    managed: bool = False
    retry: str | None = None
    max_retries: int = 2
    notify: str | None = None
    slack_channel: str = ""
    keep_executions: int | None = None
    problems: tuple[tuple[str, str], ...] = ()

    @property
    def retries(self) -> bool:
        """True when a failure of this pipeline goes to the retry function's decision, not to people."""
        return self.retry not in (None, "off") and not self.retry_problem

    @property
    def retry_problem(self) -> str:
        """Why a retry tag of this pipeline cannot be followed ('' when none is wrong)."""
        wrong = [text for key, text in self.problems if key.endswith((":retry", ":max-retries"))]
        return f"{wrong[0]}: not retried" if wrong else ""

    @classmethod
    def from_tags(cls, tags: Mapping[str, str], prefix: str) -> PipelineSettings:
        managed = tags.get(f"{prefix}:managed-by") == "pipewarden" or is_enabled(tags, prefix)
        problems: list[tuple[str, str]] = []

        def value(key: str) -> str | None:
            raw = tags.get(f"{prefix}:{key}")
            return None if raw is None else raw.strip()

        def note(key: str, raw: str, reason: str) -> None:
            problems.append((f"{prefix}:{key}", f"{prefix}:{key}={raw!r} {reason}"))

        retry = value("retry")
        if retry is None or retry == "":
            retry = "transient" if managed else None
        elif retry.lower() in RETRY_MODES:
            retry = retry.lower()
        else:
            note("retry", retry, f"is not one of {', '.join(RETRY_MODES)}")
            retry = "off"

        max_retries = 2
        raw = value("max-retries")
        if raw:
            if raw.isdigit() and int(raw) in MAX_RETRIES_RANGE:
                max_retries = int(raw)
            else:
                note("max-retries", raw, "is not a whole number from 0 to 5")

        notify = value("notify")
        if notify is None:
            notify = "failures" if managed else None
        elif notify.lower() in NOTIFY_MODES:
            notify = notify.lower()
        else:
            if notify:
                note("notify", notify, f"is not one of {', '.join(NOTIFY_MODES)}; told at failures")
            notify = "failures"

        channel = value("slack-channel") or ""
        if channel and not SLACK_CHANNEL.match(channel):
            note("slack-channel", channel, "is not a channel name; told on the default channel")
            channel = ""

        keep: int | None = 10 if managed else None
        raw = value("keep-executions")
        if raw is not None:
            if raw.isdigit() and int(raw) in KEEP_EXECUTIONS_RANGE:
                keep = int(raw)
            else:
                if raw:
                    note("keep-executions", raw, "is not a whole number from 1 to 1000; 10 kept")
                keep = 10

        return cls(managed, retry, max_retries, notify, channel, keep, tuple(problems))


def is_enabled(tags: Mapping[str, str], prefix: str) -> bool:
    """True when the repository asks to be enrolled (`<prefix>:enabled` is `true`)."""
    return tags.get(f"{prefix}:enabled", "").strip().lower() == "true"


def parse_settings(repository: str, tags: Mapping[str, str], prefix: str) -> RepositorySettings | None:
    """Validate an enrolled repository's tags.

    Returns None when the repository is not enrolled, the settings when every value is valid,
    and raises `ContractViolation` naming the first bad key (with the prefix) otherwise.
    """
    if not is_enabled(tags, prefix):
        return None

    def tag(key: str) -> str | None:
        value = tags.get(f"{prefix}:{key}")
        return None if value is None else value.strip()

    def bad(key: str, reason: str) -> ContractViolation:
        return ContractViolation(f"{prefix}:{key}", tags.get(f"{prefix}:{key}"), reason)

    def required_name(key: str) -> str:
        value = tag(key)
        if not value:
            raise bad(key, "is required")
        if not _NAME.match(value):
            raise bad(key, "must be 1-255 letters, digits, '-' or '_'")
        return value

    def choice(key: str, allowed: Sequence[str], default: str) -> str:
        value = tag(key)
        if value is None or value == "":
            return default
        if value.lower() not in allowed:
            raise bad(key, f"must be one of {', '.join(allowed)}")
        return value.lower()

    def number(key: str, allowed: range, default: int) -> int:
        value = tag(key)
        if value is None or value == "":
            return default
        if not value.isdigit() or int(value) not in allowed:
            raise bad(key, f"must be a whole number from {allowed.start} to {allowed.stop - 1}")
        return int(value)

    blueprint = choice("blueprint", BLUEPRINTS, DEFAULT_BLUEPRINT)
    # Only a blueprint that deploys to ECS reads the service's tags; the others leave them unread.
    cluster = required_name("ecs-cluster") if blueprint in ECS_BLUEPRINTS else ""
    service = required_name("ecs-service") if blueprint in ECS_BLUEPRINTS else ""

    container, ecr = "", ""
    if blueprint in IMAGE_BLUEPRINTS:
        # Defaults come from the repository name, which may hold characters these names do not.
        container = tag("container") or re.sub(r"[^A-Za-z0-9_-]", "-", repository)[:255]
        if not _NAME.match(container):
            raise bad("container", "must be 1-255 letters, digits, '-' or '_'")

        ecr = tag("ecr-repository") or repository.lower()
        if not _ECR.match(ecr):
            hint = (
                ""
                if tag("ecr-repository")
                else f" (the default {ecr!r} comes from the repository name; set the tag)"
            )
            reason = f"is not a valid ECR repository name (lower case, digits, . _ - /){hint}"
            raise bad("ecr-repository", reason)

    test_target_group: str = ""
    rollback_alarms: tuple[str, ...] = ()
    if blueprint in BLUE_GREEN_BLUEPRINTS:
        test_target_group, rollback_alarms = _blue_green(tag, bad)

    branch = tag("branch") or "main"
    if (
        len(branch) > 255
        or _BRANCH_FORBIDDEN.search(branch)
        or branch.startswith(("/", "-", "."))
        or branch.endswith(("/", ".", ".lock"))
    ):
        raise bad("branch", "is not a valid git branch name")

    buildspec = tag("buildspec") or ""
    if buildspec and (not _BUILDSPEC.match(buildspec) or ".." in buildspec or buildspec.startswith("/")):
        raise bad("buildspec", "must be a relative path to a .yml or .yaml file inside the repository")

    sam_template = _sam_template(tag, bad) if blueprint in APPLICATION_BLUEPRINTS else ""

    slack_channel = tag("slack-channel") or ""
    if slack_channel and not SLACK_CHANNEL.match(slack_channel):
        raise bad("slack-channel", "must be 1-64 lower-case letters, digits, '-' or '_' (it names a secret)")

    return RepositorySettings(
        repository=repository,
        ecs_cluster=cluster,
        ecs_service=service,
        container=container,
        ecr_repository=ecr,
        branch=branch,
        buildspec=buildspec,
        compute=choice("compute", tuple(COMPUTE_TYPES), "small"),
        retry=choice("retry", RETRY_MODES, "transient"),
        max_retries=number("max-retries", MAX_RETRIES_RANGE, 2),
        notify=choice("notify", NOTIFY_MODES, "failures"),
        keep_executions=number("keep-executions", KEEP_EXECUTIONS_RANGE, 10),
        slack_channel=slack_channel,
        blueprint=blueprint,
        test_target_group=test_target_group,
        rollback_alarms=rollback_alarms,
        sam_template=sam_template,
    )


def _sam_template(tag: Callable[[str], str | None], bad: Callable[[str, str], ContractViolation]) -> str:
    """lambda's own tag: the SAM template `sam build` reads (template.yaml by default)."""
    sam_template = tag("sam-template") or "template.yaml"
    if not _BUILDSPEC.match(sam_template) or ".." in sam_template or sam_template.startswith("/"):
        raise bad("sam-template", "must be a relative path to a .yml or .yaml file inside the repository")
    return sam_template


def _blue_green(
    tag: Callable[[str], str | None], bad: Callable[[str, str], ContractViolation]
) -> tuple[str, tuple[str, ...]]:
    """ecs-blue-green's own tags: the test target group (required) and the rollback alarms."""
    test_target_group = tag("test-target-group") or ""
    if not test_target_group:
        raise bad(
            "test-target-group",
            "is required: the second target group of the service's load balancer, which CodeDeploy "
            "starts the new tasks behind before it shifts the production listener to it",
        )
    if not _TARGET_GROUP.match(test_target_group):
        raise bad("test-target-group", "must be a target group name (1-32 letters, digits or '-')")
    alarms = tuple(a.strip() for a in (tag("rollback-alarms") or "").split(",") if a.strip())
    if len(alarms) > MAX_ROLLBACK_ALARMS or not all(_ALARM.match(a) for a in alarms):
        raise bad(
            "rollback-alarms",
            f"must be up to {MAX_ROLLBACK_ALARMS} CloudWatch alarm names separated by commas",
        )
    return test_target_group, alarms


def check_allowed(
    settings: RepositorySettings,
    allowed_targets: Sequence[str],
    prefix: str,
    allowed_blueprints: Sequence[str] = DEFAULT_ALLOWED_BLUEPRINTS,
) -> None:
    """Raise `ContractViolation` unless the controller allows the blueprint and its ECS target.

    A blueprint is allowed when the controller's AllowedBlueprints lists it. For one that deploys to
    ECS, the cluster/service must be on the controller's allow-list.

    An entry is a cluster pattern (`apps-*`) or a cluster/service pattern (`apps-*/web-*`), matched
    case-sensitively with the wildcards `*` and `?` (as the permissions boundary matches them); `*`
    allows every cluster of the account, and no entry allows nothing.
    """
    if settings.blueprint not in allowed_blueprints:
        opt_in = (
            f"; {settings.blueprint} is never allowed by default: it deploys what the repository's own "
            "template declares, so the platform team opts in by adding it there"
            if settings.blueprint in OPT_IN_BLUEPRINTS
            else ""
        )
        raise ContractViolation(
            f"{prefix}:blueprint",
            settings.blueprint,
            f"the blueprint {settings.blueprint} is not allowed in this account (allowed: "
            f"{', '.join(allowed_blueprints) or 'none'}; the platform team lists them in the controller's "
            f"AllowedBlueprints parameter{opt_in})",
        )
    if not settings.deploys_to_ecs:
        return
    target = f"{settings.ecs_cluster}/{settings.ecs_service}"
    if not allowed_targets:
        raise ContractViolation(
            f"{prefix}:ecs-cluster",
            settings.ecs_cluster,
            f"deploying to {target} is not allowed: no ECS target is allowed yet (the platform team "
            "lists them in the controller's AllowedEcsTargets parameter)",
        )
    for entry in allowed_targets:
        pattern = entry if "/" in entry else f"{entry}/*"
        if _wildcard_match(pattern, target):
            return
    raise ContractViolation(
        f"{prefix}:ecs-cluster",
        settings.ecs_cluster,
        f"deploying to {target} is not allowed (allowed: {', '.join(allowed_targets)})",
    )


def _wildcard_match(pattern: str, value: str) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` included), `?` one character, nothing else."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value) is not None


def unknown_keys(tags: Mapping[str, str], prefix: str) -> list[str]:
    """Keys under the prefix that the contract does not define (reported, never fatal)."""
    return sorted(k for k in tags if k.startswith(f"{prefix}:") and k[len(prefix) + 1 :] not in KNOWN_KEYS)
