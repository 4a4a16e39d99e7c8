"""ECR: an AWS::ECR::Repository's scanning and encryption settings in the API's shape, as AWS stores them.

moto 5.2.5 keeps CloudFormation's `{"ScanOnPush": true}` and `{"EncryptionType": "AES256"}` as they are,
so DescribeRepositories answers without `scanOnPush`, and every stack update, comparing the two shapes,
replaces the repository (and would lose its images).
"""

from __future__ import annotations

import copy
from typing import Any

from moto.ecr.models import Repository

_SHAPES = {
    "ImageScanningConfiguration": {"ScanOnPush": "scanOnPush"},
    "EncryptionConfiguration": {"EncryptionType": "encryptionType", "KmsKey": "kmsKey"},
}
_create = Repository.create_from_cloudformation_json.__func__
_update = Repository.update_from_cloudformation_json.__func__


def api_shaped(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    """The resource's JSON with its scanning and encryption settings as the ECR API spells them."""
    shaped = copy.deepcopy(cloudformation_json)
    properties = shaped.get("Properties", {})
    for name, keys in _SHAPES.items():
        if isinstance(properties.get(name), dict):
            properties[name] = {keys.get(k, k): v for k, v in properties[name].items()}
    return shaped


def install() -> None:
    def create(cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any) -> Any:
        return _create(cls, resource_name, api_shaped(cloudformation_json), *args, **kwargs)

    def update(cls: Any, original: Any, name: str, cloudformation_json: Any, *args: Any) -> Any:
        return _update(cls, original, name, api_shaped(cloudformation_json), *args)

    Repository.create_from_cloudformation_json = classmethod(create)
    Repository.update_from_cloudformation_json = classmethod(update)
