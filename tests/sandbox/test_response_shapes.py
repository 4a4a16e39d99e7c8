"""The sandbox answers only what AWS could: its responses held against botocore's service models.

botocore's models are AWS's published API descriptions (botocore/data/<service>/<version>/service-2.json),
not ours: a response that breaks one is a response AWS never sends, however leniently an SDK parses it.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel

from pipewarden.naming import pipeline_name
from sandbox import shapes
from sandbox.executions import Outcome
from sandbox.iam.requests import Call, Signature
from sandbox.runtime import Sandbox
from sandbox.shape_recorder import Response, ShapeRecorder, check
from tests.conftest import World
from tests.integration.test_retry_flow import deploy_fails

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def operation(service: str, name: str) -> OperationModel:
    return botocore.session.get_session().get_service_model(service).operation_model(name)


def retry_stage_output() -> dict[str, Any]:
    return {"pipelineExecutionId": "6f1f3a2e-0000-4000-8000-000000000000"}


def action_execution(**changes: Any) -> dict[str, Any]:
    """A ListActionExecutions detail as the CodePipeline API reference documents it
    (https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionExecutionDetail.html)."""
    detail = {
        "pipelineExecutionId": "6f1f3a2e-0000-4000-8000-000000000000",
        "actionExecutionId": "0d3b0f4c-0000-4000-8000-000000000000",
        "pipelineVersion": 1,
        "stageName": "Build",
        "actionName": "Build",
        "startTime": NOW,
        "lastUpdateTime": NOW,
        "status": "Succeeded",
        "input": {
            "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
            "configuration": {"ProjectName": "shop"},
            "inputArtifacts": [
                {"name": "Source", "s3location": {"bucket": "pipewarden-artifacts", "key": "shop/Source/abc"}}
            ],
        },
        "output": {"outputArtifacts": [], "executionResult": {"externalExecutionId": "shop:1"}},
    }
    detail.update(changes)
    return detail


# -- the validator --------------------------------------------------------------------------------


def test_a_documented_response_has_no_problems() -> None:
    listed = {"actionExecutionDetails": [action_execution()], "ResponseMetadata": {"HTTPStatusCode": 200}}
    assert shapes.output_problems(operation("codepipeline", "ListActionExecutions"), listed) == []
    assert (
        shapes.output_problems(operation("codepipeline", "RetryStageExecution"), retry_stage_output()) == []
    )


def test_a_missing_required_member_is_a_problem_at_any_depth() -> None:
    # ActionTypeId requires category, owner, provider and version (botocore model codepipeline ActionTypeId)
    detail = action_execution()
    del detail["input"]["actionTypeId"]["provider"]
    problems = shapes.output_problems(
        operation("codepipeline", "ListActionExecutions"), {"actionExecutionDetails": [detail]}
    )
    assert problems == [
        "ListActionExecutions.actionExecutionDetails[0].input.actionTypeId.provider: "
        "required by ActionTypeId, missing"
    ]


def test_a_value_outside_the_enum_is_a_problem() -> None:
    # ActionExecutionStatus is InProgress | Abandoned | Succeeded | Failed: no "FAILED"
    problems = shapes.output_problems(
        operation("codepipeline", "ListActionExecutions"),
        {"actionExecutionDetails": [action_execution(status="FAILED")]},
    )
    assert len(problems) == 1 and "'FAILED' is not one of ActionExecutionStatus's values" in problems[0]


@pytest.mark.parametrize(
    ("member", "value", "expected"),
    [
        ("pipelineVersion", "1", "str '1' where PipelineVersion is an integer"),
        ("pipelineVersion", True, "bool True where PipelineVersion is an integer"),
        ("pipelineVersion", 0, "value 0 is below PipelineVersion's min 1"),
        ("startTime", 1735689600.0, "float 1735689600.0 where Timestamp is a timestamp"),
        ("input", [], "list [] where ActionExecutionInput is a structure"),
        ("stageName", "", "length 0 is below StageName's min 1"),
    ],
)
def test_a_wrong_type_or_size_is_a_problem(member: str, value: Any, expected: str) -> None:
    problems = shapes.output_problems(
        operation("codepipeline", "ListActionExecutions"),
        {"actionExecutionDetails": [action_execution(**{member: value})]},
    )
    assert problems == [f"ListActionExecutions.actionExecutionDetails[0].{member}: {expected}"]


def test_error_codes_must_be_modelled_for_the_operation_or_common() -> None:
    retry = operation("codepipeline", "RetryStageExecution")
    # modelled: https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_RetryStageExecution.html#API_RetryStageExecution_Errors
    assert shapes.error_problems(retry, "json", "StageNotRetryableException") == []
    assert shapes.error_problems(retry, "json", "ThrottlingException") == []  # a common error
    # GetPipelineState has no StageNotRetryableException, and no service answers "Throttled"
    state = operation("codepipeline", "GetPipelineState")
    assert shapes.error_problems(state, "json", "StageNotRetryableException")
    assert shapes.error_problems(retry, "json", "Throttled")


def test_query_error_codes_are_read_as_the_wire_spells_them() -> None:
    # IAM's NoSuchEntityException shape answers with the code NoSuchEntity (its `error.code`)
    get_role = operation("iam", "GetRole")
    assert shapes.error_problems(get_role, "query", "NoSuchEntity") == []
    assert shapes.error_problems(get_role, "query", "RoleNotFound")


def test_members_the_model_lacks_are_a_problem_in_a_raw_json_document() -> None:
    shape = operation("codepipeline", "RetryStageExecution").output_shape
    assert shapes.unknown_members(shape, retry_stage_output()) == []
    assert shapes.unknown_members(shape, {**retry_stage_output(), "attempt": 2}) == [
        "RetryStageExecutionOutput.attempt: no such member in RetryStageExecutionOutput"
    ]


def wire(service: str, name: str, protocol: str) -> Call:
    return Call(Signature("testing", "us-east-1", service), service, name, protocol, {})


def test_a_response_is_read_with_botocores_parser_for_its_protocol() -> None:
    # Given raw answers as a JSON service and a query service put them on the wire
    good = json.dumps({"pipelineExecutionId": "6f1f3a2e-0000-4000-8000-000000000000"}).encode()
    retry = wire("codepipeline", "RetryStageExecution", "json")
    assert check(retry, Response(200, [("Content-Type", "application/x-amz-json-1.1")], good)) == []
    # A JSON number where the model says string: botocore's JSON parser passes it through
    bad = json.dumps({"pipelineExecutionId": 7}).encode()
    assert check(retry, Response(200, [], bad)) == [
        "RetryStageExecution.pipelineExecutionId: int 7 where PipelineExecutionId is a string"
    ]
    error = json.dumps({"__type": "PipelineBusy", "message": "busy"}).encode()
    assert check(retry, Response(400, [("x-amzn-ErrorType", "PipelineBusy")], error))
    xml = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>no role</Message>"
        b"</Error><RequestId>1</RequestId></ErrorResponse>"
    )
    assert check(wire("iam", "GetRole", "query"), Response(404, [], xml)) == []


# -- the sandbox ----------------------------------------------------------------------------------

# What the sandbox's extensions answer themselves (sandbox/moto_ext/*): these must match AWS's models.
EXTENDED = frozenset(
    {
        # codecommit.py
        "codecommit:CreateRepository",
        "codecommit:ListRepositories",
        "codecommit:TagResource",
        "codecommit:UntagResource",
        "codecommit:ListTagsForResource",
        "codecommit:PutFile",
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        # codepipeline.py (executions: moto's records with the simulator's progress)
        "codepipeline:GetPipelineState",
        "codepipeline:ListActionExecutions",
        "codepipeline:RetryStageExecution",
        "codepipeline:StartPipelineExecution",
        "codepipeline:GetPipelineExecution",
        "codepipeline:ListPipelineExecutions",
        # codebuild.py (builds the simulator finished)
        "codebuild:BatchGetBuilds",
        # tagging.py
        "resourcegroupstaggingapi:GetResources",
        # s3.py
        "s3:ListObjectVersions",
        # ecs.py (stopped tasks of a failed deploy)
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        # cloudformation.py (stacks that roll back, with real resources behind them)
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks",
        # events.py, ecr.py
        "events:PutEvents",
        "ecr:DescribeRepositories",
    }
)

RATE_LIMIT = Outcome(
    log=["ERROR: failed to solve: 429 Too Many Requests - toomanyrequests: pull rate limit."]
)
TEST_FAILURE = Outcome(log=["FAIL src/cart.test.js", "Tests: 1 failed, 41 passed, 42 total"])


@pytest.fixture
def recording(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.shapes.reset()
    sandbox.shapes.enabled = True
    try:
        yield sandbox
    finally:
        sandbox.shapes.enabled = False


@pytest.mark.integration
def test_pipewardens_flows_meet_only_responses_aws_could_send(recording: Sandbox, world: World) -> None:
    # Given a repository enrolled by tag, whose pipeline keeps one execution's artifacts
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags(keep_executions="1", notify="all"))
    pipeline = pipeline_name(repo)
    # When an execution succeeds, one fails transiently and is retried, and one fails a test
    world.push(repo, "first")
    assert world.sandbox.wait_for_execution(pipeline)["status"] == "Succeeded"
    world.sandbox.simulator.scripts.add(pipeline, "Build", [RATE_LIMIT])
    world.push(repo, "flaky")
    world.eventually(lambda: world.pipeline_events(pipeline, "Stage Retry Started"))
    assert world.sandbox.wait_for_execution(pipeline)["status"] == "Succeeded"
    world.sandbox.simulator.scripts.add(pipeline, "Build", [TEST_FAILURE])
    world.push(repo, "broken")
    world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))
    # ... and an ECS deploy whose tasks stop (read with ListTasks and DescribeTasks)
    deploy_fails(world, pipeline, "CannotPullContainerError: pull image manifest: not found")
    world.push(repo, "an image nobody pushed")
    world.eventually(lambda: len(world.pipeline_events(pipeline, "Failure Not Retried")) == 2)
    # ... each ending with a prune and a notification, then a resync, then the repository leaves
    world.sandbox.run_schedules()
    world.sandbox.wait_idle(30)
    world.untag(arn, ["pipewarden:enabled"])
    world.eventually(lambda: world.stack(repo) is None)
    recording.shapes.enabled = False

    # Then every response of an operation the extensions serve is one AWS's model allows
    checked = recording.shapes.checked()
    served = {op for op in checked if op in EXTENDED}
    assert {
        "codepipeline:ListActionExecutions",
        "codepipeline:RetryStageExecution",
        "codepipeline:GetPipelineState",
        "codebuild:BatchGetBuilds",
        "ecs:DescribeTasks",
        "resourcegroupstaggingapi:GetResources",
        "s3:ListObjectVersions",
    } <= served
    assert [str(p) for p in recording.shapes.problems(EXTENDED)] == []
    # ... and plain moto's answers too (none of these flows meets a moto answer AWS would not send)
    assert [str(p) for p in recording.shapes.problems()] == []
    assert recording.shapes.unmapped() == []


def one_execution(world: World) -> tuple[str, dict[str, Any], str, str]:
    """An enrolled repository's pipeline, its one execution (which succeeded), the repository and ARN."""
    world.service()
    repo, arn = world.repository()
    world.tag(arn, world.enroll_tags())
    pipeline = pipeline_name(repo)
    world.push(repo)
    run = world.sandbox.wait_for_execution(pipeline)
    assert run["status"] == "Succeeded"
    return pipeline, run, repo, arn


@pytest.mark.integration
def test_an_action_with_no_external_run_has_no_empty_id_in_the_pipeline_state(
    recording: Sandbox, world: World
) -> None:
    # Given an execution that ran its ECS deploy (an action with no external execution id)
    pipeline, *_ = one_execution(world)
    # When its state is read
    state = world.sandbox.client("codepipeline").get_pipeline_state(name=pipeline)
    # Then the deploy's latest execution leaves out the id and summary it does not have (the model
    # allows no empty ExecutionId or ExecutionSummary), and the response passes the model
    deploy = state["stageStates"][-1]["actionStates"][0]["latestExecution"]
    assert deploy["status"] == "Succeeded"
    assert deploy.get("externalExecutionId", "x") and deploy.get("summary", "x")
    assert recording.shapes.checked()["codepipeline:GetPipelineState"] >= 1
    assert recording.shapes.problems({"codepipeline:GetPipelineState"}) == []


@pytest.mark.integration
def test_the_recorder_sees_an_answer_no_model_allows(recording: Sandbox) -> None:
    # Given an operation moto 5.2.5 lacks: it raises, and the server answers an HTML page with HTTP 500
    codecommit = recording.client("codecommit")
    with pytest.raises(codecommit.exceptions.ClientError):
        codecommit.get_repository_triggers(repositoryName="nothing-here")
    # Then the recorder says so, naming the operation
    problems = recording.shapes.problems({"codecommit:GetRepositoryTriggers"})
    assert len(problems) == 1 and problems[0].status == 500
    assert "NotImplementedError" in problems[0].problem


@pytest.mark.integration
def test_the_errors_the_extensions_answer_are_documented_for_their_operations(
    recording: Sandbox, world: World
) -> None:
    # Given an enrolled repository whose one execution succeeded
    pipeline, run, repo, arn = one_execution(world)
    codepipeline, codecommit = recording.client("codepipeline"), recording.client("codecommit")
    # When the extensions are asked what they must refuse
    attempts: list[tuple[Any, dict[str, Any]]] = [
        (
            codepipeline.retry_stage_execution,
            {
                "pipelineName": pipeline,
                "stageName": "Build",
                "pipelineExecutionId": run["pipelineExecutionId"],
                "retryMode": "FAILED_ACTIONS",
            },
        ),
        (
            codepipeline.retry_stage_execution,
            {
                "pipelineName": pipeline,
                "stageName": "Nope",
                "pipelineExecutionId": run["pipelineExecutionId"],
                "retryMode": "FAILED_ACTIONS",
            },
        ),
        (codepipeline.get_pipeline_state, {"name": "no-such-pipeline"}),
        (codepipeline.list_action_executions, {"pipelineName": "no-such-pipeline"}),
        (codecommit.get_branch, {"repositoryName": repo, "branchName": "no-such-branch"}),
        (codecommit.get_commit, {"repositoryName": repo, "commitId": "0" * 40}),
        (codecommit.list_tags_for_resource, {"resourceArn": arn + "-gone"}),
        (
            codecommit.put_file,
            {"repositoryName": repo, "branchName": "main", "filePath": "a", "fileContent": b"x"},
        ),
    ]
    for call, arguments in attempts:
        with pytest.raises(codepipeline.exceptions.ClientError):
            call(**arguments)
    # Then each refusal is one of the operation's modelled errors or a common one
    operations = {
        f"{c.__self__.meta.service_model.service_name}:{c.__self__.meta.method_to_api_mapping[c.__name__]}"
        for c, _ in attempts
    }
    assert set(recording.shapes.checked()) >= operations
    assert [str(p) for p in recording.shapes.problems(operations)] == []


def test_a_switched_off_recorder_leaves_the_app_alone() -> None:
    # The hot path: when off, the wrapped app's own iterable goes back untouched (nothing is buffered)
    answer = iter([b"streamed"])
    recorder = ShapeRecorder()
    wrapped = recorder.wrap(lambda environ, start_response: answer)
    assert wrapped({}, lambda *_: None) is answer
    assert recorder.checked() == {}
