"""Read template.yaml as CloudFormation would: short-form intrinsics, parameters, conditions, references."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

NO_VALUE = object()
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


class _Loader(yaml.SafeLoader):
    """YAML loader that turns `!Ref x` into `{"Ref": "x"}` and `!Sub s` into `{"Fn::Sub": "s"}`."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def load(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template file."""
    return loads(path.read_text(encoding="utf-8"), str(path))


def loads(text: str, name: str = "template") -> dict[str, Any]:
    """Parse a CloudFormation/SAM template's text (YAML or JSON), short-form intrinsics as long ones."""
    loaded = yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError(f"{name} is not a template")
    return loaded


class Resolver:
    """Evaluates intrinsic functions against parameter values and the physical ids of resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        overrides: Mapping[str, str],
        resources: Mapping[str, Mapping[str, str]],
        account: str,
        region: str,
    ) -> None:
        self.parameters = {
            name: str(overrides.get(name, spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "pipewarden",
        }
        self.resources = resources
        self.conditions = {name: self.resolve(expr) for name, expr in template.get("Conditions", {}).items()}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        return self.resources[name]["Ref"]

    def attribute(self, name: str, attribute: str) -> str:
        return self.resources[name][attribute]

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key:
                resource, attribute = key.split(".", 1)
                return self.attribute(resource, attribute)
            return str(self.ref(key))

        return _SUB.sub(replace, text).replace("${!", "${")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Condition" and isinstance(value, str) and value in self.conditions:
                return self.conditions[value]
            if key.startswith("Fn::"):
                return self._function(key[4:], value)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _function(self, name: str, value: Any) -> Any:
        if name == "GetAtt":
            return self.attribute(value[0], value[1])
        if name == "Sub":
            if isinstance(value, list):
                return self.sub(value[0], {k: self.resolve(v) for k, v in value[1].items()})
            return self.sub(value, {})
        if name == "Join":
            return str(value[0]).join(str(v) for v in self.resolve(value[1]))
        if name == "Split":
            return str(self.resolve(value[1])).split(value[0])
        if name == "Select":
            return self.resolve(value[1])[int(self.resolve(value[0]))]
        if name == "If":
            return self.resolve(value[1] if self.conditions[value[0]] else value[2])
        if name == "Equals":
            left, right = (self.resolve(v) for v in value)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(value[0])
        if name == "And":
            return all(self.resolve(v) for v in value)
        if name == "Or":
            return any(self.resolve(v) for v in value)
        raise ValueError(f"intrinsic function Fn::{name} is not supported by the sandbox")
