"""The sandbox pages as AWS does, so every nextToken loop of pipewarden runs a second page.

For each operation pipewarden pages through: (a) AWS's default and maximum page and its tokens,
(b) a token AWS did not issue fails with AWS's error, (c) pipewarden's own reader reads every page
and gets the answer one big page gives. The AWS facts and their sources are in the sandbox modules
that implement them: sandbox/moto_ext/codepipeline.py (ListActionExecutions, ListPipelineExecutions),
tagging.py (GetResources), stack_pages.py (ListStacks, DescribeStacks), s3.py (ListObjectVersions).

Small pages come from `paging.page_sizes`, which acts in the sandbox server's process: the threaded
server these tests start runs in the test process.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.codepipeline.models import codepipeline_backends

from pipewarden import stacks
from pipewarden.aws import Clients, tagged_resources
from pipewarden.config import PruneConfig, RetryConfig
from pipewarden.emit import Emitter
from pipewarden.naming import pipeline_name
from pipewarden.pipeline_events import StageFailure
from pipewarden.prune import Pruner
from pipewarden.retry import Retrier
from sandbox.moto_ext import codepipeline, tagging
from sandbox.moto_ext.paging import page_sizes
from sandbox.runtime import Sandbox
from tests.conftest import ACCOUNT, REGION, World

pytestmark = [
    pytest.mark.integration,
    # A stack of nothing (moto creates no resource for the handle) keeps listing tests quick.
    pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudFormation..WaitConditionHandle"),
]

TEMPLATE = '{"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}'


@dataclass
class History:
    """A pipeline pipewarden enrolled, which ran three executions."""

    world: World
    repository: str
    pipeline: str
    executions: list[str]  # newest first


@pytest.fixture(scope="module")
def history(sandbox: Sandbox) -> History:
    world = World(sandbox, uuid.uuid4().hex[:8])
    world.service()
    repository, arn = world.repository()
    world.tag(arn, world.enroll_tags(keep_executions="10"))
    pipeline = pipeline_name(repository)
    world.eventually(lambda: world.pipeline(repository))
    for n in range(3):
        world.push(repository, f"change {n}")
        sandbox.wait_for_execution(pipeline)
    sandbox.wait_idle()
    runs = sandbox.client("codepipeline").list_pipeline_executions(pipelineName=pipeline)
    executions = [r["pipelineExecutionId"] for r in runs["pipelineExecutionSummaries"]]
    assert len(executions) == 3
    return History(world, repository, pipeline, executions)


class CountingClients(Clients):
    """The sandbox's clients, counting the calls of each operation made through them."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.calls: Counter[str] = Counter()

        def build(service: str) -> Any:
            client = sandbox.client(service)
            client.meta.events.register("before-call", self._count)
            return client

        super().__init__(build)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


def refused(operation: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    """The error code and message a call is refused with."""
    with pytest.raises(ClientError) as caught:
        operation(**kwargs)
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error.get("Message", ""))


def forged(token: str) -> list[str]:
    """Tokens AWS never issued: garbage, and the real token with one character changed."""
    flipped = token[:-2] + ("Z" if token[-2] != "Z" else "Y") + token[-1]
    return ["not-a-token", "eyJwb3NpdGlvbiI6IDJ9", flipped]


@pytest.fixture
def bulk_executions(history: History) -> Iterator[str]:
    """101 past executions of a fresh pipeline, with 101 action runs in the newest: AWS's page of 100
    and one more, recorded without running 101 executions."""
    client = history.world.sandbox.client("codepipeline")
    declaration = client.get_pipeline(name=history.pipeline)["pipeline"]
    declaration["name"] = f"{history.pipeline[:80]}-bulk"
    client.create_pipeline(pipeline=declaration)
    record = codepipeline_backends[ACCOUNT][REGION].pipelines[declaration["name"]]
    for _ in range(101):
        execution = codepipeline.Execution(declaration["name"], 1, {"triggerType": "Test"}, {})
        execution.status = "Succeeded"
        record.executions[execution.pipeline_execution_id] = execution
    for n in range(101):
        execution.actions.append(
            codepipeline.ActionRun("Build", f"Action{n:03}", {"provider": "CodeBuild"}, {}, [])
        )
    yield declaration["name"]
    client.delete_pipeline(name=declaration["name"])


# -- ListPipelineExecutions and ListActionExecutions ------------------------------------------------


def test_codepipeline_lists_answer_100_a_page_by_default_and_refuse_more(
    sandbox: Sandbox, bulk_executions: str
) -> None:
    client = sandbox.client("codepipeline")
    first = client.list_pipeline_executions(pipelineName=bulk_executions)
    assert len(first["pipelineExecutionSummaries"]) == 100
    second = client.list_pipeline_executions(pipelineName=bulk_executions, nextToken=first["nextToken"])
    assert len(second["pipelineExecutionSummaries"]) == 1 and "nextToken" not in second
    seen = {s["pipelineExecutionId"] for s in first["pipelineExecutionSummaries"]}
    assert second["pipelineExecutionSummaries"][0]["pipelineExecutionId"] not in seen
    assert (
        len(
            client.list_pipeline_executions(pipelineName=bulk_executions, maxResults=7)[
                "pipelineExecutionSummaries"
            ]
        )
        == 7
    )

    actions = client.list_action_executions(pipelineName=bulk_executions)
    assert len(actions["actionExecutionDetails"]) == 100
    rest = client.list_action_executions(pipelineName=bulk_executions, nextToken=actions["nextToken"])
    assert len(rest["actionExecutionDetails"]) == 1 and "nextToken" not in rest

    for operation in (client.list_action_executions, client.list_pipeline_executions):
        code, message = refused(operation, pipelineName=bulk_executions, maxResults=101)
        assert code == "ValidationException" and "less than or equal to 100" in message
        assert operation(pipelineName=bulk_executions, maxResults=100)["nextToken"]


def test_a_codepipeline_token_it_did_not_issue_is_an_invalid_next_token(
    sandbox: Sandbox, history: History
) -> None:
    client = sandbox.client("codepipeline")
    name = history.pipeline
    token = client.list_action_executions(pipelineName=name, maxResults=1)["nextToken"]
    runs_token = client.list_pipeline_executions(pipelineName=name, maxResults=1)["nextToken"]
    for bad in forged(token):
        code, _ = refused(client.list_action_executions, pipelineName=name, nextToken=bad)
        assert code == "InvalidNextTokenException"
    # A token continues the query it came from, not another operation's or another filter's
    code, _ = refused(client.list_pipeline_executions, pipelineName=name, nextToken=token)
    assert code == "InvalidNextTokenException"
    one = {"pipelineExecutionId": history.executions[0]}
    code, _ = refused(client.list_action_executions, pipelineName=name, filter=one, nextToken=token)
    assert code == "InvalidNextTokenException"
    for bad in forged(runs_token):
        code, _ = refused(client.list_pipeline_executions, pipelineName=name, nextToken=bad)
        assert code == "InvalidNextTokenException"
    # The real token still reads the next page
    assert client.list_action_executions(pipelineName=name, nextToken=token)["actionExecutionDetails"]


def test_retry_reads_every_page_of_a_stage_runs(sandbox: Sandbox, history: History) -> None:
    # Given the oldest execution's actions, listed newest first: Deploy, Build, Source
    config = RetryConfig.from_env(os.environ)
    clients = CountingClients(sandbox)
    retrier = Retrier(config, clients, Emitter(lambda: clients.events, config.event_bus))
    failure = StageFailure(history.pipeline, history.executions[-1], "Build")
    whole = retrier.stage_runs(failure)
    assert whole and clients.calls["ListActionExecutions"] == 1

    # When AWS cuts a page per action, Then the Build runs on the later pages are read all the same
    with page_sizes(ListActionExecutions=1):
        paged = retrier.stage_runs(failure)
    assert paged == whole
    assert clients.calls["ListActionExecutions"] > 2


def test_prune_reads_every_page_of_executions_actions_and_versions(
    sandbox: Sandbox, history: History
) -> None:
    config = PruneConfig(sandbox.outputs["ArtifactBucketName"], grace=datetime.timedelta(0))
    clients = CountingClients(sandbox)
    pruner = Pruner(config, clients, dry_run=True)
    whole = pruner.pipeline_artifacts(history.pipeline, 3)  # keeps all three: every one is read
    plan = pruner.run(only=history.pipeline)
    assert whole is not None and len(whole.executions) == 3
    assert plan.list_calls == 1
    calls = Counter(clients.calls)

    with page_sizes(ListPipelineExecutions=1, ListActionExecutions=2, ListObjectVersions=2):
        paged = pruner.pipeline_artifacts(history.pipeline, 3)
        paged_plan = pruner.run(only=history.pipeline)
    assert paged == whole
    assert (paged_plan.total(), paged_plan.prefixes, paged_plan.protected) == (
        plan.total(),
        plan.prefixes,
        plan.protected,
    )
    assert paged_plan.list_calls > 1
    assert clients.calls["ListPipelineExecutions"] - calls["ListPipelineExecutions"] >= 2 * 3
    assert clients.calls["ListActionExecutions"] - calls["ListActionExecutions"] >= 2 * 2


def test_prune_reads_no_further_back_than_what_it_keeps(sandbox: Sandbox, history: History) -> None:
    # Given three executions whose stages all succeeded, read one per page
    config = PruneConfig(sandbox.outputs["ArtifactBucketName"], grace=datetime.timedelta(0))
    clients = CountingClients(sandbox)
    pruner = Pruner(config, clients, dry_run=True)
    # When the pipeline keeps one execution
    with page_sizes(ListPipelineExecutions=1):
        kept = pruner.pipeline_artifacts(history.pipeline, 1)
    # Then only the newest execution is read: it succeeded, so its records show each stage's latest
    # success and no succeededInStage query is needed; one page of executions, its own action
    # executions, nothing of the older history
    assert kept is not None
    assert [e.execution_id for e in kept.executions] == [history.executions[0]]
    assert kept.latest_success == dict.fromkeys(("Source", "Build", "Deploy"), history.executions[0])
    assert clients.calls["ListPipelineExecutions"] == 1  # its records show every stage succeeded
    assert clients.calls["ListActionExecutions"] == 1


# -- GetResources --------------------------------------------------------------------------------------


@pytest.fixture
def tagged_buckets(sandbox: Sandbox) -> Iterator[str]:
    """101 buckets carrying one tag key of their own: AWS's largest page and one more."""
    key = f"paging-{uuid.uuid4().hex[:8]}"
    s3 = sandbox.client("s3")
    names = [f"{key}-{n:03}" for n in range(101)]
    for name in names:
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": key, "Value": "x"}]})
    yield key
    for name in names:
        s3.delete_bucket(Bucket=name)


def test_get_resources_pages_hold_at_most_100_resources(sandbox: Sandbox, tagged_buckets: str) -> None:
    client = sandbox.client("resourcegroupstaggingapi")
    query = {"TagFilters": [{"Key": tagged_buckets}], "ResourceTypeFilters": ["s3"]}
    for size in ({"ResourcesPerPage": 100}, {}):  # the default page is not documented: 100 here
        first = client.get_resources(**query, **size)
        assert len(first["ResourceTagMappingList"]) == 100 and first["PaginationToken"]
        last = client.get_resources(**query, **size, PaginationToken=first["PaginationToken"])
        assert len(last["ResourceTagMappingList"]) == 1
        assert last["PaginationToken"] == ""  # an empty string ends the listing, not a missing key
    code, _ = refused(client.get_resources, **query, ResourcesPerPage=101)
    assert code == "InvalidParameterException"
    # A page may be read again with its token (it stays valid for 15 minutes)
    token = client.get_resources(**query, ResourcesPerPage=60)["PaginationToken"]
    again = [client.get_resources(**query, ResourcesPerPage=60, PaginationToken=token) for _ in range(2)]
    assert again[0]["ResourceTagMappingList"] == again[1]["ResourceTagMappingList"]
    assert len(again[0]["ResourceTagMappingList"]) == 41


def test_a_tagging_token_it_did_not_issue_or_too_old_is_refused(
    sandbox: Sandbox, history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sandbox.client("resourcegroupstaggingapi")
    query = {"ResourceTypeFilters": ["codepipeline:pipeline", "codecommit:repository"], "ResourcesPerPage": 1}
    token = client.get_resources(**query)["PaginationToken"]
    assert token
    for bad in forged(token):
        code, _ = refused(client.get_resources, **query, PaginationToken=bad)
        assert code == "InvalidParameterException"
    code, _ = refused(client.get_resources, ResourceTypeFilters=["s3"], PaginationToken=token)
    assert code == "InvalidParameterException"
    monkeypatch.setattr(tagging, "TOKEN_LIFETIME", -1.0)
    code, _ = refused(client.get_resources, **query, PaginationToken=token)
    assert code == "PaginationTokenExpiredException"


@pytest.fixture
def second_managed_pipeline(sandbox: Sandbox, history: History) -> Iterator[str]:
    client = sandbox.client("codepipeline")
    declaration = client.get_pipeline(name=history.pipeline)["pipeline"]
    declaration["name"] = f"{history.pipeline[:80]}-twin"
    client.create_pipeline(
        pipeline=declaration, tags=[{"key": "pipewarden:managed-by", "value": "pipewarden"}]
    )
    yield declaration["name"]
    client.delete_pipeline(name=declaration["name"])


def test_enrolled_pipelines_are_found_on_every_page(
    sandbox: Sandbox, history: History, second_managed_pipeline: str
) -> None:
    clients = CountingClients(sandbox)
    key = "pipewarden:managed-by"
    whole = dict(tagged_resources(clients.tagging, "codepipeline:pipeline", key))
    for name in (history.pipeline, second_managed_pipeline):
        assert any(arn.endswith(f":{name}") for arn in whole)
    assert clients.calls["GetResources"] == 1
    with page_sizes(GetResources=1):
        paged = dict(tagged_resources(clients.tagging, "codepipeline:pipeline", key))
    assert paged == whole
    assert clients.calls["GetResources"] == 1 + len(whole)


# -- ListStacks and DescribeStacks -----------------------------------------------------------------------


@pytest.fixture
def many_stacks(sandbox: Sandbox) -> Iterator[list[str]]:
    """Enough stacks that every listing of them takes two of AWS's pages of 100."""
    cfn = sandbox.client("cloudformation")
    present = sum(len(p["Stacks"]) for p in cfn.get_paginator("describe_stacks").paginate())
    names = [f"paging-{uuid.uuid4().hex[:8]}-{n}" for n in range(max(0, 101 - present))]
    for name in names:
        cfn.create_stack(StackName=name, TemplateBody=TEMPLATE)
    yield names
    for name in names:
        cfn.delete_stack(StackName=name)


def test_stack_lists_answer_100_a_page(sandbox: Sandbox, many_stacks: list[str]) -> None:
    cfn = sandbox.client("cloudformation")
    first = cfn.list_stacks()
    assert len(first["StackSummaries"]) == 100 and first["NextToken"]
    rest = cfn.list_stacks(NextToken=first["NextToken"])
    assert rest["StackSummaries"]
    listed = [s["StackId"] for s in first["StackSummaries"] + rest["StackSummaries"]]
    assert len(listed) == len(set(listed))
    described = cfn.describe_stacks()
    assert len(described["Stacks"]) == 100 and described["NextToken"]
    assert cfn.describe_stacks(NextToken=described["NextToken"])["Stacks"]


@pytest.fixture
def two_more_stacks(sandbox: Sandbox) -> Iterator[None]:
    """A stack pipewarden manages and one it does not, besides the enrolled repository's."""
    cfn = sandbox.client("cloudformation")
    suffix = uuid.uuid4().hex[:8]
    managed = [{"Key": "pipewarden:managed-by", "Value": "pipewarden"}]
    cfn.create_stack(StackName=f"paging-managed-{suffix}", TemplateBody=TEMPLATE, Tags=managed)
    cfn.create_stack(StackName=f"paging-other-{suffix}", TemplateBody=TEMPLATE)
    assert sandbox.wait_idle(30)  # stacks take time: created before the test lists them
    yield
    cfn.delete_stack(StackName=f"paging-managed-{suffix}")
    cfn.delete_stack(StackName=f"paging-other-{suffix}")
    assert sandbox.wait_idle(30)  # ... and gone before the next test lists stacks


@pytest.mark.usefixtures("two_more_stacks")
def test_a_stack_list_token_it_did_not_issue_is_a_validation_error(sandbox: Sandbox) -> None:
    cfn = sandbox.client("cloudformation")
    with page_sizes(ListStacks=1, DescribeStacks=1):
        token = cfn.list_stacks()["NextToken"]
        described = cfn.describe_stacks()["NextToken"]
    for bad in [*forged(token), described]:
        code, _ = refused(cfn.list_stacks, NextToken=bad)
        assert code == "ValidationError"
    for bad in [*forged(described), token]:
        code, _ = refused(cfn.describe_stacks, NextToken=bad)
        assert code == "ValidationError"


@pytest.mark.usefixtures("two_more_stacks")
def test_reconcile_finds_managed_stacks_on_every_page(sandbox: Sandbox, history: History) -> None:
    clients = CountingClients(sandbox)
    whole = [s.name for s in stacks.managed(clients.cloudformation, "pipewarden")]
    assert f"pipewarden-{history.repository}" in whole
    before = clients.calls["DescribeStacks"]
    with page_sizes(DescribeStacks=1):
        paged = [s.name for s in stacks.managed(clients.cloudformation, "pipewarden")]
    assert paged == whole and len(whole) >= 2
    # The session's sandbox may hold more than one page (100) of stacks by now: count them all.
    pages = sandbox.client("cloudformation").get_paginator("describe_stacks").paginate()
    live = sum(len(page["Stacks"]) for page in pages)
    assert clients.calls["DescribeStacks"] - before == live  # a page per stack


# -- ListObjectVersions ------------------------------------------------------------------------------------


@pytest.fixture
def versions(sandbox: Sandbox) -> Iterator[str]:
    """A versioned bucket holding 1,001 versions: S3's page of 1,000 and one more."""
    s3 = sandbox.client("s3")
    bucket = f"paging-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for n in range(1001):
        s3.put_object(Bucket=bucket, Key=f"k/{n % 10}", Body=b"")
    yield bucket
    while entries := [
        {"Key": e["Key"], "VersionId": e["VersionId"]}
        for e in s3.list_object_versions(Bucket=bucket).get("Versions", [])
    ]:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": entries})
    s3.delete_bucket(Bucket=bucket)


def test_object_versions_come_1000_a_page_whatever_max_keys_asks(sandbox: Sandbox, versions: str) -> None:
    s3 = sandbox.client("s3")
    for asked in ({}, {"MaxKeys": 5000}):
        first = s3.list_object_versions(Bucket=versions, **asked)
        assert len(first["Versions"]) == 1000 and first["IsTruncated"]
        rest = s3.list_object_versions(
            Bucket=versions, KeyMarker=first["NextKeyMarker"], VersionIdMarker=first["NextVersionIdMarker"]
        )
        assert len(rest["Versions"]) == 1 and not rest["IsTruncated"]


def test_a_version_id_marker_s3_did_not_issue_is_an_invalid_argument(
    sandbox: Sandbox, history: History
) -> None:
    s3 = sandbox.client("s3")
    bucket = sandbox.outputs["ArtifactBucketName"]
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    assert page["IsTruncated"]
    for bad in forged(page["NextVersionIdMarker"]):
        code, message = refused(
            s3.list_object_versions, Bucket=bucket, KeyMarker=page["NextKeyMarker"], VersionIdMarker=bad
        )
        assert (code, message) == ("InvalidArgument", "Invalid version id specified")
    code, message = refused(
        s3.list_object_versions, Bucket=bucket, VersionIdMarker=page["NextVersionIdMarker"]
    )
    assert (code, message) == (
        "InvalidArgument",
        "A version-id marker cannot be specified without a key marker.",
    )
    # Any key is a key marker: the listing resumes after it
    after = s3.list_object_versions(Bucket=bucket, KeyMarker="~")
    assert not after.get("Versions") and not after["IsTruncated"]
