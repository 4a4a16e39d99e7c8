"""The lambda blueprint's managed build: `sam build` and `sam package` of the repository's SAM template.

`sam package` zips each function's local code, uploads it to `--s3-bucket` under `--s3-prefix`,
named by the zip's MD5 (it skips an upload whose key exists), and writes the template with each
CodeUri replaced by the uploaded object's S3 URI
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-package.html).
The sandbox does the same with the template the commit holds: the code is a small zip named after
the function's CodeUri, and the upload is the build role's PutObject, so IAM decides it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from typing import Any

import yaml

from sandbox import template as cfn_template

_FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # sam's zips are reproducible: the same code, the same MD5


class PackageError(Exception):
    """sam build or sam package failed: what it printed."""


def repository_file(account: str, region: str, repository: str, commit: str, path: str) -> bytes | None:
    """The file at `path` in the commit's tree (sandbox CodeCommit), or None."""
    from moto.codecommit.models import codecommit_backends

    backend = codecommit_backends[account][region]
    found = getattr(backend, "trees", {}).get(commit, {}).get(path.removeprefix("./"))
    return bytes(found) if found is not None else None


def code_zip(code_uri: str) -> bytes:
    """The deployment package `sam build` makes of a function's code directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo("app.py", date_time=_FIXED_TIME)
        archive.writestr(entry, f"# built from {code_uri}\ndef handler(event, context):\n    return event\n")
    return buffer.getvalue()


def package(text: str, put: Callable[[str, bytes], None], bucket: str, prefix: str) -> tuple[str, list[str]]:
    """The packaged template and the keys uploaded; `put(key, body)` uploads (its errors propagate).

    PackageError: the template cannot be read, as `sam build` says it.
    """
    try:
        template = cfn_template.loads(text)
    except (yaml.YAMLError, ValueError) as error:
        raise PackageError(f"Error: Failed to parse template: {error}") from None
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise PackageError("Error: Failed to parse template: the template has no Resources section")
    holders: list[tuple[dict[str, Any], str]] = []
    function_globals = (template.get("Globals") or {}).get("Function")
    if isinstance(function_globals, dict):
        holders.append((function_globals, "CodeUri"))
    for resource in template["Resources"].values():
        properties = resource.get("Properties") if isinstance(resource, dict) else None
        if not isinstance(properties, dict):
            continue
        if resource.get("Type") == "AWS::Serverless::Function":
            holders.append((properties, "CodeUri"))
        elif resource.get("Type") == "AWS::Lambda::Function":
            holders.append((properties, "Code"))
    uploaded: list[str] = []
    for properties, key in holders:
        local = properties.get(key)
        if not isinstance(local, str) or local.startswith("s3://"):
            continue
        body = code_zip(local)
        object_key = f"{prefix}/{hashlib.md5(body, usedforsecurity=False).hexdigest()}"
        if object_key not in uploaded:
            put(object_key, body)
            uploaded.append(object_key)
        properties[key] = (
            f"s3://{bucket}/{object_key}" if key == "CodeUri" else {"S3Bucket": bucket, "S3Key": object_key}
        )
    return yaml.safe_dump(template, sort_keys=False), uploaded
