"""IAM: a policy document without `Version`, or with the older 2008-10-17, is accepted, as IAM does.

moto 5.2.5 refuses any policy whose Version is not 2012-10-17. IAM stores one without a Version (it
defaults to 2008-10-17, whose only difference is that policy variables are plain text); SAM writes such
documents for a function's on-failure destination, so the controller's roles carry them on AWS.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html
"""

from __future__ import annotations

from moto.iam import policy_validation


def _validate_version(self: policy_validation.BaseIAMPolicyValidator) -> None:
    assert self._policy_json.get("Version", "2008-10-17") in policy_validation.VALID_VERSIONS


def install() -> None:
    policy_validation.BaseIAMPolicyValidator._validate_version = _validate_version
