"""Each AWS operation pipewarden calls, answered with a response from AWS's documentation (or, where AWS
documents none, one built from botocore's model: tests/data/aws-samples/SOURCES.yaml says which), replayed
through botocore and the product code that reads it. The sandbox is not involved: this is AWS's word."""

from __future__ import annotations

import datetime
import re

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from pipewarden import buildlogs, ownership, pipelines, stacks
from pipewarden.aws import Invalid, NotFound, tagged_resources
from pipewarden.classify import DETERMINISTIC, UNKNOWN
from pipewarden.config import PruneConfig, RetryConfig
from pipewarden.emit import Emitter
from pipewarden.enrich import Enricher
from pipewarden.pipeline_events import StageFailure
from pipewarden.prune import Pruner, PruneReport
from pipewarden.retry import DueRetry, Retrier
from pipewarden.retry_policy import Backoff
from pipewarden.webhooks import WebhookSecrets
from tests.sandbox.aws_calls import product_operations
from tests.sandbox.replay import SAMPLES, Replay, model_errors, parsed, raw, sources

EXECUTION = "EXAMPLE0-adfc-488e-bf4c-1111111720d3"  # the ListActionExecutions example's execution


def retrier(replay: Replay) -> Retrier:
    config = RetryConfig("pipewarden", "https://sqs.us-east-1.amazonaws.com/123456789012/q", "", Backoff())
    return Retrier(config, replay.clients(), Emitter(lambda: replay.client("events"), "default"))


# -- the list of samples is the list of calls ------------------------------------------------------------
def test_every_operation_the_product_calls_has_a_sample_with_its_source() -> None:
    called = {f"{service}.{operation}" for service, operation in product_operations()}
    recorded = set(sources())
    assert called - recorded == set(), "calls without a sample: add one to tests/data/aws-samples"
    assert recorded - called == set(), "samples for operations the product no longer calls"
    for key, source in sources().items():
        service, operation = key.split(".")
        assert (SAMPLES / service / f"{operation}.json").is_file(), key
        assert source["origin"] in ("documented", "model"), key
        assert source["url"].startswith("https://docs.aws.amazon.com/"), key


def test_the_scan_sees_calls_made_through_each_helper() -> None:
    found = product_operations()
    assert ("resourcegroupstaggingapi", "GetResources") in found  # aws.tagged_resources
    assert ("codepipeline", "ListPipelineExecutions") in found  # pipelines.executions' paginator
    assert ("codepipeline", "GetPipeline") in found  # call(codepipeline.get_pipeline, ...)
    assert ("events", "PutEvents") in found  # Emitter's client getter


# the one sample whose documented shape is not the model's: see the test below
PARSEABLE = sorted(set(sources()) - {"codepipeline.ListTagsForResource"})


@pytest.mark.parametrize("key", PARSEABLE)
def test_sample_is_a_valid_response_in_botocores_model(key: str) -> None:
    service, operation = key.split(".")
    assert model_errors(service, operation) == []
    assert parsed(service, operation) or operation == "DeleteStack"


def test_codepipeline_tag_list_as_the_cli_documents_it_is_not_what_the_model_says() -> None:
    # The CLI reference shows ListTagsForResource's tags as a map; botocore's model (TagList of
    # {key, value}) and https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListTagsForResource.html
    # say a list. The product reads a list (pipelines.read): the model is right.
    documented = raw("codepipeline", "ListTagsForResource")["tags"]
    assert isinstance(documented, dict)
    with pytest.raises(AttributeError):
        parsed("codepipeline", "ListTagsForResource")
    as_listed = {"tags": [{"key": k, "value": v} for k, v in documented.items()]}
    assert parsed("codepipeline", "ListTagsForResource", as_listed)["tags"][0] == {
        "key": "Project",
        "value": "ProjectA",
    }


# -- retry ------------------------------------------------------------------------------------------------
def test_retry_reads_the_documented_pipeline_state_stage_by_stage() -> None:
    replay = Replay()
    for _ in range(2):
        replay.answer("codepipeline", "GetPipelineState", {"name": "MyFirstPipeline"})
    retry = retrier(replay)
    # The example's stages carry no latestExecution: no execution can be the stage's current failure.
    beta = retry.stale_reason(StageFailure("MyFirstPipeline", EXECUTION, "Beta"))
    assert beta == "a newer execution (none) ran the stage since"
    gone = retry.stale_reason(StageFailure("MyFirstPipeline", EXECUTION, "Deploy"))
    assert gone == "the pipeline has no stage Deploy any more"
    replay.assert_all_read()


def test_retry_counts_the_documented_action_executions_of_one_stage() -> None:
    replay = Replay()
    expected = {"pipelineName": "myPipeline", "filter": {"pipelineExecutionId": EXECUTION}, "maxResults": 100}
    replay.answer("codepipeline", "ListActionExecutions", expected)
    runs = retrier(replay).stage_runs(StageFailure("myPipeline", EXECUTION, "Deploy"))
    assert list(runs) == ["Deploy"]
    assert [d["actionExecutionId"] for d in runs["Deploy"]] == ["EXAMPLE4-2ee8-4853-bd6a-111111158148"]
    assert isinstance(runs["Deploy"][0]["startTime"], datetime.datetime)
    replay.assert_all_read()


def test_retry_classifies_the_documented_build_and_reads_its_documented_log() -> None:
    # BatchGetBuilds' example build SUCCEEDED: no failed phase, nothing transient in its log -> unknown.
    replay = Replay()
    build_id = "codebuild-demo-project:e9c4f4df-3f43-41d2-ab3a-60fe2EXAMPLE"
    replay.answer("codebuild", "BatchGetBuilds", {"ids": [build_id]})
    replay.answer(
        "logs",
        "GetLogEvents",
        {
            "logGroupName": "/aws/codebuild/codebuild-demo-project",
            "logStreamName": "46472baf-8f6b-43c2-9255-b3b963af2732",
            "limit": buildlogs.LOG_TAIL,
            "startFromHead": False,
        },
    )
    detail = {
        "input": {"actionTypeId": {"provider": "CodeBuild"}},
        "output": {"executionResult": {"externalExecutionId": build_id}},
    }
    verdict = retrier(replay).classify(detail)
    assert verdict.kind == UNKNOWN
    assert verdict.evidence.get("build-status") == "SUCCEEDED"
    replay.assert_all_read()


def test_retry_classifies_a_failed_codedeploy_deployment_from_getdeployment() -> None:
    # A CodeDeployToECS action's external execution id is the deployment's id.
    replay = Replay()
    replay.answer("codedeploy", "GetDeployment", {"deploymentId": "d-EXAMPLE11"})
    detail = {
        "input": {"actionTypeId": {"provider": "CodeDeployToECS"}},
        "output": {"executionResult": {"externalExecutionId": "d-EXAMPLE11"}},
    }
    verdict = retrier(replay).classify(detail)
    assert verdict.kind == DETERMINISTIC
    assert verdict.evidence["code"] == "HEALTH_CONSTRAINTS"
    assert verdict.evidence["rollback-deployment-id"] == "d-EXAMPLE22"
    replay.assert_all_read()


def test_enroll_finds_the_documented_listener_forwarding_to_the_documented_target_group() -> None:
    # The examples' target group is behind the examples' load balancer, whose listener forwards to it.
    groups = parsed("elbv2", "DescribeTargetGroups")["TargetGroups"]
    listeners = parsed("elbv2", "DescribeListeners")["Listeners"]
    tags = parsed("elbv2", "DescribeTags")["TagDescriptions"]
    assert ownership._forwarded_target_groups(listeners[0]["DefaultActions"]) == [groups[0]["TargetGroupArn"]]
    assert listeners[0]["LoadBalancerArn"] in groups[0]["LoadBalancerArns"]
    assert ownership.tag_map(tags[0]["Tags"]) == {"project": "lima", "department": "digital-media"}


def test_the_log_tail_is_the_documented_events_messages_in_order() -> None:
    replay = Replay()
    replay.answer("logs", "GetLogEvents")
    build = {"logs": {"groupName": "my-logs", "streamName": "20150601"}}
    lines = buildlogs.tail(replay.client("logs"), build)
    assert lines == ["Example Event 1", "Example Event 1", "Example Event 2"]


def test_retry_reads_no_stop_reasons_from_the_documented_running_tasks() -> None:
    # ECS's DescribeTasks example is a RUNNING task (no stoppedAt): it explains no failed deployment.
    replay = Replay()
    replay.answer(
        "ecs",
        "ListTasks",
        {"cluster": "default", "serviceName": "web", "desiredStatus": "STOPPED", "maxResults": 100},
    )
    replay.answer("ecs", "DescribeTasks")
    detail = {"input": {"configuration": {"ClusterName": "default", "ServiceName": "web"}}}
    assert retrier(replay).stopped_reasons(detail) == []
    replay.assert_all_read()


def test_retry_takes_the_documented_retry_answer_as_started() -> None:
    replay = Replay()
    replay.answer(
        "codepipeline",
        "RetryStageExecution",
        {
            "pipelineName": "MyPipeline",
            "stageName": "Deploy",
            "pipelineExecutionId": "b59babff-5f34-EXAMPLE",
            "retryMode": "FAILED_ACTIONS",
        },
    )
    decision = retrier(replay)._start(
        DueRetry("MyPipeline", "b59babff-5f34-EXAMPLE", "Deploy", 1, "transient")
    )
    assert decision.retry and decision.reason == "retry 1 started (transient failure)"


def test_retry_queues_a_decision_and_sqs_documented_answer_is_accepted() -> None:
    replay = Replay()
    replay.answer("sqs", "SendMessage")
    retrier(replay)._queue(DueRetry("MyPipeline", EXECUTION, "Deploy", 1, "transient"), 30)
    replay.assert_all_read()


def test_pipeline_tags_are_read_from_the_documented_get_pipeline_which_has_no_metadata() -> None:
    # The model marks GetPipelineOutput.metadata optional and the CLI example omits it: the pipeline's
    # ARN is made of the client's region and its service role's partition and account.
    replay = Replay()
    replay.answer("codepipeline", "GetPipeline", {"name": "MyFirstPipeline"})
    arn = "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
    tags = {"tags": [{"key": "pipewarden:retry", "value": "transient"}]}
    replay.answer("codepipeline", "ListTagsForResource", {"resourceArn": arn}, body=tags)
    assert retrier(replay).pipeline_settings("MyFirstPipeline").retry == "transient"
    replay.assert_all_read()


def test_a_pipeline_read_takes_the_arn_from_metadata_when_get_pipeline_has_it() -> None:
    replay = Replay()
    documented = raw("codepipeline", "GetPipeline")
    arn = "arn:aws-cn:codepipeline:cn-north-1:222222222222:MyFirstPipeline"
    with_metadata = dict(documented, metadata={"pipelineArn": arn})
    replay.answer("codepipeline", "GetPipeline", {"name": "MyFirstPipeline"}, body=with_metadata)
    replay.answer("codepipeline", "ListTagsForResource", {"resourceArn": arn}, body={"tags": []})
    found = pipelines.read(replay.client("codepipeline"), "MyFirstPipeline")
    assert (found.arn, dict(found.tags), found.declaration["name"]) == (arn, {}, "MyFirstPipeline")
    replay.assert_all_read()


def test_a_pipeline_arn_made_without_metadata_has_codepipelines_documented_form() -> None:
    # AWS's GetPipeline example has no metadata: the ARN is made as arn:<partition>:codepipeline:<region>:
    # <account>:<name>, the form CodePipeline's API gives pipelineArn ("arn:aws(-[\\w]+)*:codepipeline:.+:
    # [0-9]{12}:.+", https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineContext.html;
    # read here from botocore's model) and its GetPipeline metadata carries.
    replay = Replay()
    documented = raw("codepipeline", "GetPipeline")
    assert "metadata" not in documented
    replay.answer("codepipeline", "GetPipeline", {"name": "MyFirstPipeline"})
    expected = "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
    replay.answer("codepipeline", "ListTagsForResource", {"resourceArn": expected}, body={"tags": []})
    found = pipelines.read(replay.client("codepipeline"), "MyFirstPipeline")
    # The role's account and partition (arn:aws:iam::111111111111:role/...) and the client's region
    assert documented["pipeline"]["roleArn"].startswith("arn:aws:iam::111111111111:")
    assert found.arn == expected
    model = botocore.session.get_session().get_service_model("codepipeline")
    assert re.fullmatch(model.shape_for("PipelineArn").metadata["pattern"], found.arn)
    replay.assert_all_read()


def _documented_pipeline_whose_made_arn_is_not_found(replay: Replay) -> None:
    replay.answer("codepipeline", "GetPipeline", {"name": "MyFirstPipeline"})
    replay.fail(
        "codepipeline",
        "ListTagsForResource",
        "ResourceNotFoundException",  # one of ListTagsForResource's errors in botocore's model
        "The account with id '111111111111' does not include a pipeline with the name 'MyFirstPipeline'",
        {"resourceArn": "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"},
    )


def test_a_not_found_on_a_made_pipeline_arn_is_reported_not_taken_for_a_deleted_pipeline() -> None:
    # Given GetPipeline found the pipeline (without metadata) and its made ARN names nothing
    replay = Replay()
    _documented_pipeline_whose_made_arn_is_not_found(replay)
    # Then the read fails as an invalid request, naming the ARN, not as NotFound ("the pipeline is gone")
    with pytest.raises(
        Invalid, match="arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
    ) as raised:
        pipelines.read(replay.client("codepipeline"), "MyFirstPipeline")
    assert not isinstance(raised.value, NotFound) and not raised.value.transient
    assert raised.value.code == "ResourceNotFoundException"
    replay.assert_all_read()
    # And neither retry nor notify read it as a pipeline that no longer exists (a skip, or None)
    replay = Replay()
    _documented_pipeline_whose_made_arn_is_not_found(replay)
    with pytest.raises(Invalid):
        retrier(replay).pipeline_settings("MyFirstPipeline")
    replay = Replay()
    _documented_pipeline_whose_made_arn_is_not_found(replay)
    with pytest.raises(Invalid):
        Enricher(replay.clients()).pipeline("MyFirstPipeline")


def test_a_not_found_on_the_arn_aws_gave_is_a_pipeline_deleted_meanwhile() -> None:
    replay = Replay()
    arn = "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
    with_metadata = dict(raw("codepipeline", "GetPipeline"), metadata={"pipelineArn": arn})
    replay.answer("codepipeline", "GetPipeline", {"name": "MyFirstPipeline"}, body=with_metadata)
    replay.fail(
        "codepipeline", "ListTagsForResource", "ResourceNotFoundException", "gone", {"resourceArn": arn}
    )
    assert Enricher(replay.clients()).pipeline("MyFirstPipeline") is None
    replay.assert_all_read()


def test_notify_reads_the_documented_pipeline_source_and_tags() -> None:
    replay = Replay()
    replay.answer("codepipeline", "GetPipeline")
    replay.answer("codepipeline", "ListTagsForResource", body={"tags": [{"key": "k", "value": "v"}]})
    enricher = Enricher(replay.clients())
    found = enricher.pipeline("MyFirstPipeline")
    assert found is not None and found[1] == {"k": "v"}
    assert [stage["name"] for stage in found[0]["stages"]] == ["Source", "Beta"]
    assert enricher.pipeline("MyFirstPipeline") == found  # remembered for the event: not read again
    replay.assert_all_read()


# -- prune ------------------------------------------------------------------------------------------------
def pruner(replay: Replay) -> Pruner:
    return Pruner(PruneConfig(bucket="my-bucket"), replay.clients())


def test_prune_lists_the_documented_object_versions() -> None:
    replay = Replay()
    replay.answer("s3", "ListObjectVersions", {"Bucket": "my-bucket", "Prefix": "", "MaxKeys": 1000})
    listed = list(pruner(replay)._listing("", PruneReport("my-bucket", "", False)))
    assert [(o.key, o.version_id, o.size) for o in listed] == [
        ("HappyFace.jpg", "null", 3191),
        ("HappyFace.jpg", "PHtexPGjH2y.zBgT8LmB7wwLI2mpbz.k", 3191),
    ]
    assert [o.is_latest for o in listed] == [True, False]
    assert listed[0].last_modified == datetime.datetime(2016, 12, 15, 1, 19, 41, tzinfo=datetime.UTC)
    replay.assert_all_read()


def test_prune_counts_the_documented_delete_answer_as_all_deleted() -> None:
    replay = Replay()
    replay.answer("s3", "ListObjectVersions")
    replay.answer("s3", "DeleteObjects")
    prune = pruner(replay)
    calls, failed = prune._delete(list(prune._listing("", PruneReport("my-bucket", "", False))))
    assert (calls, failed) == (1, [])


def test_prune_reads_which_keys_each_documented_execution_used() -> None:
    listed = [
        "7cf7f7cb-3137-539g-j458-d7eu3EXAMPLE",
        "3137f7cb-8d494hj4-039j-d84l-d7eu3EXAMPLE",
        "4992f7jf-7cf7-913k-k334-d7eu3EXAMPLE",
    ]
    replay = Replay()
    # The documented state: stages Source and Beta, no stage execution running, failed or stopped
    replay.answer("codepipeline", "GetPipelineState", {"name": "myPipeline"})
    replay.answer("codepipeline", "ListPipelineExecutions", {"pipelineName": "myPipeline", "maxResults": 100})
    # Each execution's own action records, asked for by id (the documented answer is another one's)
    for execution_id in listed:
        expected = {"pipelineName": "myPipeline", "filter": {"pipelineExecutionId": execution_id}}
        replay.answer("codepipeline", "ListActionExecutions", {**expected, "maxResults": 100})
    # No record shows a stage succeeding, so each stage's latest success is asked for (succeededInStage):
    # the documented list's first for Source, none for Beta
    for stage, body in (("Source", None), ("Beta", {"pipelineExecutionSummaries": []})):
        expected = {"pipelineName": "myPipeline", "filter": {"succeededInStage": {"stageName": stage}}}
        replay.answer("codepipeline", "ListPipelineExecutions", {**expected, "maxResults": 1}, body)
    artifacts = pruner(replay).pipeline_artifacts("myPipeline", 10)
    assert artifacts is not None
    # The executions listed are not the one whose actions are listed (the examples are unrelated): a
    # record of another execution is not counted, so none of them has keys
    assert [e.execution_id for e in artifacts.executions] == listed
    assert all(not e.keys for e in artifacts.executions)
    assert artifacts.retryable == frozenset()
    assert artifacts.latest_success == {"Source": listed[0]}
    replay.assert_all_read()


def test_prune_finds_pipelines_from_a_get_resources_page() -> None:
    replay = Replay()
    replay.answer("resourcegroupstaggingapi", "GetResources")
    found = list(tagged_resources(replay.client("resourcegroupstaggingapi"), "codepipeline:pipeline", "k"))
    assert found == [
        (
            "arn:aws:codepipeline:us-east-1:123456789012:pipewarden-shop",
            {"pipewarden:managed-by": "pipewarden", "pipewarden:keep-executions": "5"},
        )
    ]


# -- enroll -----------------------------------------------------------------------------------------------
def test_enroll_reads_the_documented_repository_arn_then_its_tags() -> None:
    from pipewarden.reconcile import Reconciler

    replay = Replay()
    replay.answer("codecommit", "GetRepository", {"repositoryName": "MyDemoRepo"})
    arn = "arn:aws:codecommit:us-east-1:80398EXAMPLE:MyDemoRepo"
    replay.answer("codecommit", "ListTagsForResource", {"resourceArn": arn})
    reconciler = Reconciler.__new__(Reconciler)
    reconciler.clients = replay.clients()
    found_arn, tags = reconciler.repository_tags("MyDemoRepo")
    assert found_arn == arn
    assert tags == {
        "pipewarden:enabled": "true",
        "pipewarden:ecs-cluster": "apps-prod",
        "pipewarden:ecs-service": "web",
    }


def test_enroll_reads_the_documented_stack() -> None:
    replay = Replay()
    replay.answer("cloudformation", "DescribeStacks", {"StackName": "myteststack"})
    view = stacks.describe(replay.client("cloudformation"), "myteststack")
    assert view is not None
    assert (view.status, view.tags, view.parameters) == ("CREATE_COMPLETE", {}, {})
    assert view.status_reason == ""  # documented as null


def test_enroll_names_the_first_failed_resource_of_the_stack_events() -> None:
    replay = Replay()
    replay.answer("cloudformation", "DescribeStackEvents")
    reason = stacks.first_failure_reason(replay.client("cloudformation"), "myteststack", "unknown")
    assert reason == "Invalid service role"


def test_enroll_lists_the_documented_pipelines_by_name() -> None:
    replay = Replay()
    replay.answer("codepipeline", "ListPipelines", {})
    assert list(pipelines.names(replay.client("codepipeline"))) == ["MyFirstPipeline", "MySecondPipeline"]


# -- notify -----------------------------------------------------------------------------------------------
def test_notify_reads_the_commit_message_from_the_execution_and_the_commit() -> None:
    replay = Replay()
    replay.answer("codepipeline", "GetPipelineExecution")
    replay.answer("codecommit", "GetCommit", {"repositoryName": "my-repo", "commitId": "c"})
    enricher = Enricher(replay.clients())
    assert enricher._revision("MyFirstPipeline", EXECUTION) == (
        "EXAMPLEad99dcd35914c00b7fbea139951111111",
        "Edited template.yml",
    )
    assert enricher._commit("my-repo", "c")["author"]["name"] == "Mary Major"


def test_notify_refuses_a_secret_that_holds_no_webhook_url() -> None:
    # Secrets Manager's example secret is JSON with a username and password, not a webhook URL.
    replay = Replay()
    replay.answer("secretsmanager", "GetSecretValue", {"SecretId": "MyTestDatabaseSecret"})
    with pytest.raises(ValueError, match="holds no webhook URL"):
        WebhookSecrets(replay.client("secretsmanager")).webhook_url("MyTestDatabaseSecret")


def test_a_documented_lengths_breach_is_tolerated_as_botocore_tolerates_it() -> None:
    # BatchGetBuilds' example answers "buildsNotFound": [] where the model says at least one item:
    # a limit on requests, not on responses. botocore hands real responses on unvalidated; so does Replay.
    from botocore.validate import ParamValidator

    shape = Replay().client("codebuild").meta.service_model.operation_model("BatchGetBuilds").output_shape
    report = ParamValidator().validate(parsed("codebuild", "BatchGetBuilds"), shape)
    assert [e[0] for e in report._errors] == ["invalid length"]
    assert model_errors("codebuild", "BatchGetBuilds") == []


def test_emitted_events_are_remembered_when_eventbridge_takes_them() -> None:
    replay = Replay()
    replay.answer("events", "PutEvents")
    emitter = Emitter(lambda: replay.client("events"), "default")
    emitter.emit("Artifacts Pruned", {"pipeline": "p"})
    assert emitter.sent == [("Artifacts Pruned", {"pipeline": "p"})]
    replay.assert_all_read()


def test_a_sample_in_the_wrong_shape_is_refused() -> None:
    # The harness can fail: a response the model does not allow never reaches the product.
    stub = Stubber(Replay().client("ecs"))
    with pytest.raises(ParamValidationError):
        stub.add_response("list_tasks", {"taskArns": "not-a-list"})
    assert model_errors("ecs", "ListTasks") == []
