"""The AWS operations the product calls, found by reading its source (no import, no run)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import botocore.session

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = sorted((ROOT / "layers" / "pipewarden" / "pipewarden").rglob("*.py")) + sorted(
    (ROOT / "functions").glob("*/app.py")
)

# What the product names its clients (the last name of the expression handed to `call`) -> botocore service.
RECEIVERS = {
    "codepipeline": "codepipeline",
    "codecommit": "codecommit",
    "codebuild": "codebuild",
    "logs": "logs",
    "logs_client": "logs",
    "cloudformation": "cloudformation",
    "cfn": "cloudformation",
    "ecs": "ecs",
    "ecr": "ecr",
    "elbv2": "elbv2",
    "codedeploy": "codedeploy",
    "s3": "s3",
    "sqs": "sqs",
    "sns": "sns",
    "dynamodb": "dynamodb",
    "secretsmanager": "secretsmanager",
    "tagging": "resourcegroupstaggingapi",
    "_client": "events",  # Emitter's client getter
}


class UnreadableCall(Exception):
    """A call this scan cannot attribute to one service and operation: teach the scan, do not skip it."""


@cache
def _methods(service: str) -> dict[str, str]:
    """botocore's method name -> API operation name for the service."""
    model = botocore.session.get_session().get_service_model(service)
    from botocore import xform_name

    return {xform_name(name): name for name in model.operation_names}


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ast.unparse(node)


def _calls_in(path: Path) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if _last_name(node.func) == "call" and node.args:
            # `call(clients.s3.list_objects, ...)`: the method handed over is counted below.
            method = node.args[0]
            service = RECEIVERS.get(_last_name(method.value)) if isinstance(method, ast.Attribute) else None
            if (
                service is None
                or not isinstance(method, ast.Attribute)
                or method.attr not in _methods(service)
            ):
                raise UnreadableCall(f"{where}: not a known client's operation: {ast.unparse(node)}")
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "get_paginator":
            # `pages(client.get_paginator("list_pipelines").paginate, ...)`: a paginator calls its operation.
            paged = RECEIVERS.get(_last_name(node.func.value))
            named = node.args[0] if node.args else None
            if not (isinstance(named, ast.Constant) and isinstance(named.value, str)):
                raise UnreadableCall(f"{where}: paginator operation is not a literal: {ast.unparse(node)}")
            if paged is None or named.value not in _methods(paged):
                raise UnreadableCall(f"{where}: no operation known for {ast.unparse(node)}")
            found.add((paged, _methods(paged)[named.value]))
    for node in ast.walk(tree):
        # A client's method, called (`clients.s3.list_objects(...)`) or handed to `call`
        # (`call(clients.s3.list_objects, ...)`): either way the operation is called.
        if isinstance(node, ast.Attribute):
            direct = RECEIVERS.get(_last_name(node.value))
            if direct and node.attr in _methods(direct):
                found.add((direct, _methods(direct)[node.attr]))
    return found


def product_operations() -> set[tuple[str, str]]:
    """(service, Operation) for every AWS call in functions/ and the layer's library."""
    return set().union(*(_calls_in(path) for path in PRODUCT))
