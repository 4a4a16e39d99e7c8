"""What the whole integration run shows about IAM, read from every call the sandbox authorized.

Runs last (its name sorts last), on the session's sandbox, after every other integration test has
made its calls with the functions', CloudFormation's and the pipelines' roles:

- every statement of every function's own policies was the only statement allowing some call, so
  removing any one of them from template.yaml denies that call and fails the test that made it;
- no call pipewarden made was denied (a missing permission fails here even when a test tolerated it);
- the service control policy the README gives refuses none of those calls.

Run alone (or with -k), it skips: it reads what the other tests did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.iam.enforce import Record
from sandbox.iam.evaluate import Policy, Request, StatementRef, evaluate
from sandbox.runtime import Sandbox
from tests.conftest import ROOT

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent


@pytest.fixture
def whole_run(request: pytest.FixtureRequest, sandbox: Sandbox) -> list[Record]:
    """Every decision of the run; skips unless every integration module ran in this session."""
    ran = {Path(str(item.fspath)).name for item in request.session.items}
    every = {p.name for p in HERE.glob("test_*.py")}
    if not every <= ran:
        pytest.skip(f"reads the whole integration run; these did not run: {sorted(every - ran)}")
    return sandbox._server.iam.recorder.decisions()  # type: ignore[no-any-return]


def function_statements(sandbox: Sandbox) -> Iterator[tuple[str, StatementRef]]:
    """(function, statement) for every statement of every inline policy of every function's role."""
    iam = sandbox.client("iam")
    for name, function in sorted(sandbox.functions.items()):
        role = function.role_arn.rsplit("/", 1)[-1]
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            statements = document["Statement"]
            for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
                yield name, StatementRef(policy, str(statement.get("Sid", "")), index)


def test_every_statement_of_every_function_policy_is_the_only_one_to_allow_some_call(
    whole_run: list[Record], sandbox: Sandbox
) -> None:
    recorder = sandbox._server.iam.recorder
    unneeded = [
        f"{name}: {ref.policy} statement {ref.index} {ref.sid}".rstrip()
        for name, ref in function_statements(sandbox)
        if ref not in recorder.needed(sandbox.functions[name].role_arn)
    ]
    assert whole_run
    assert unneeded == [], "statements no call of the run needed (remove them, or test what needs them)"


def test_pipewarden_was_never_denied_a_call(whole_run: list[Record], sandbox: Sandbox) -> None:
    functions = {f.role_arn for f in sandbox.functions.values()}
    denied = sorted(
        {
            f"{role.rsplit('/', 1)[-1]}: {r.action} on {r.resource}"
            for role in functions
            for r in sandbox._server.iam.recorder.decisions(role)
            if not r.allowed
        }
    )
    assert denied == []
    assert sandbox._server.iam.recorder.unmapped() == []


def test_the_service_control_policy_refuses_nothing_pipewarden_does(
    whole_run: list[Record], sandbox: Sandbox
) -> None:
    scp = json.loads((ROOT / "security/scp.json").read_text())
    supplement = json.loads((ROOT / "security/scp-supplement.json").read_text())
    full_access = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    scps = [
        Policy("FullAWSAccess", full_access),
        Policy("pipewarden", scp),
        Policy("pipewarden-supplement", supplement),
    ]
    everything = [Policy("allowed", full_access)]
    ours = {f.role_arn for f in sandbox.functions.values()}
    refused: set[str] = set()
    checked = 0
    for record in whole_run:
        context: dict[str, Any] = dict(record.context)
        principal = str(context.get("aws:PrincipalArn", ""))
        # pipewarden's calls: its functions', its CloudFormation role's and its pipelines' roles'
        mine = (
            principal in ours
            or ":role/pipewarden-controller/" in principal
            or ":role/pipewarden/" in principal
        )
        if not record.allowed or not mine:
            continue
        request = Request(principal, record.action, record.resource, context)
        checked += 1
        if not evaluate(request, everything, (), scps).allowed:
            refused.add(f"{context.get('aws:PrincipalArn')}: {record.action} on {record.resource}")
    assert checked > 1000
    assert sorted(refused) == []
