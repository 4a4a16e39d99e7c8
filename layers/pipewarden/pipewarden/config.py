"""The controller's own settings, read once from the function's environment into a frozen object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ConfigError(ValueError):
    """The function's environment is incomplete or malformed (a deployment error)."""


@dataclass(frozen=True)
class ControllerConfig:
    """What every enroll decision needs from the deployment, independent of any one repository."""

    tag_prefix: str
    allowed_targets: tuple[str, ...]
    artifact_bucket: str
    permissions_boundary_arn: str
    cloudformation_role_arn: str
    event_bus: str = "default"
    log_retention_days: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ControllerConfig:
        """Parse the environment; raise `ConfigError` naming the first missing or bad variable."""

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigError(f"environment variable {name} is required")
            return value

        prefix = env.get("TAG_PREFIX", "pipewarden").strip()
        if not _PREFIX.match(prefix) or prefix.startswith("aws"):
            raise ConfigError(f"TAG_PREFIX={prefix!r} is not a valid tag key prefix")
        # Empty (the template's default) is valid: nothing may be deployed until targets are listed.
        targets = tuple(t.strip() for t in env.get("ALLOWED_ECS_TARGETS", "").split(",") if t.strip())
        retention = env.get("LOG_RETENTION_DAYS", "30").strip()
        if not retention.isdigit():
            raise ConfigError(f"LOG_RETENTION_DAYS={retention!r} is not a number of days")
        return cls(
            tag_prefix=prefix,
            allowed_targets=targets,
            artifact_bucket=required("ARTIFACT_BUCKET"),
            permissions_boundary_arn=required("PERMISSIONS_BOUNDARY_ARN"),
            cloudformation_role_arn=required("CLOUDFORMATION_ROLE_ARN"),
            event_bus=env.get("EVENT_BUS_NAME", "default").strip() or "default",
            log_retention_days=int(retention),
        )
