"""Error paths of the enroll handler that the sandbox cannot produce: throttling, access denied, PutEvents."""

from __future__ import annotations

import datetime
import importlib.util
import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pipewarden import aws, stacks
from pipewarden.aws import Clients, Throttled
from pipewarden.config import ControllerConfig
from pipewarden.emit import Emitter
from pipewarden.outcomes import on_stack_status
from pipewarden.reconcile import BUSY, Action, Decision, Reconciler
from pipewarden.resync import resync
from tests.conftest import ROOT

CONFIG = ControllerConfig("pipewarden", ("*",), "b", "arn:aws:iam::1:policy/b", "arn:aws:iam::1:role/r")


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(  # type: ignore[call-overload]
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


@pytest.fixture
def codecommit() -> Iterator[tuple[Any, Stubber]]:
    client, stub = stubbed("codecommit")
    with stub:
        yield client, stub
    stub.assert_no_pending_responses()


@pytest.fixture
def events() -> Iterator[tuple[Any, Stubber]]:
    client, stub = stubbed("events")
    with stub:
        yield client, stub
    stub.assert_no_pending_responses()


def load_handler() -> Any:
    spec = importlib.util.spec_from_file_location("enroll_app_under_test", ROOT / "functions/enroll/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reconciler_with(clients: dict[str, Any]) -> Reconciler:
    built = Clients(lambda service: clients[service])
    return Reconciler(CONFIG, built, Emitter(lambda: built.events, "default"))


def test_throttling_is_raised_so_lambda_retries(
    codecommit: tuple[Any, Stubber], events: tuple[Any, Stubber]
) -> None:
    client, stub = codecommit
    stub.add_client_error("get_repository", "ThrottlingException", "Rate exceeded", 400)
    app = load_handler()
    with pytest.raises(aws.Throttled):
        app._reconcile_each(reconciler_with({"codecommit": client, "events": events[0]}), ("shop",))


def test_access_denied_is_reported_and_not_retried(
    codecommit: tuple[Any, Stubber], events: tuple[Any, Stubber]
) -> None:
    client, stub = codecommit
    stub.add_client_error("get_repository", "AccessDeniedException", "not allowed", 400)
    ev_client, ev_stub = events
    ev_stub.add_response(
        "put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}, {"Entries": ANY}
    )
    app = load_handler()
    app._reconcile_each(reconciler_with({"codecommit": client, "events": ev_client}), ("shop",))


def test_one_throttled_repository_does_not_stop_the_others(events: tuple[Any, Stubber]) -> None:
    # Given two repositories, the first throttled and the second gone
    client, stub = stubbed("codecommit")
    cfn, cfn_stub = stubbed("cloudformation")
    stub.add_client_error("get_repository", "ThrottlingException", "slow down", 400)
    stub.add_client_error("get_repository", "RepositoryDoesNotExistException", "gone", 400)
    cfn_stub.add_client_error(
        "describe_stacks", "ValidationError", "Stack with id pipewarden-b does not exist", 400
    )
    app = load_handler()
    with stub, cfn_stub, pytest.raises(aws.Throttled):
        app._reconcile_each(
            reconciler_with({"codecommit": client, "cloudformation": cfn, "events": events[0]}), ("a", "b")
        )
    # Then the second was still looked at before the throttling was raised
    stub.assert_no_pending_responses()
    cfn_stub.assert_no_pending_responses()


def test_rejected_put_events_entry_is_raised_as_transient(events: tuple[Any, Stubber]) -> None:
    client, stub = events
    stub.add_response(
        "put_events",
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]},
        {"Entries": ANY},
    )
    with pytest.raises(aws.Throttled, match="InternalFailure"):
        Emitter(lambda: client, "default").emit("Repository Enrolled", {"repository": "shop"})


def test_long_detail_strings_are_capped(events: tuple[Any, Stubber]) -> None:
    client, stub = events
    sent: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    client.meta.events.register("provide-client-params.events.PutEvents", keep)
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}, {"Entries": ANY})
    emitter = Emitter(lambda: client, "default")
    emitter.emit("Repository Enrollment Rejected", {"reason": "x" * 10_000, "nested": {"why": ["y" * 5000]}})
    detail = json.loads(sent[0]["Entries"][0]["Detail"])
    assert len(detail["reason"]) == 2000
    assert len(detail["nested"]["why"][0]) == 2000
    assert emitter.sent[0][0] == "Repository Enrollment Rejected"


class Bus:
    """An events client that takes every entry (the emitter keeps what it sent)."""

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i, _ in enumerate(Entries)]}


def test_a_permanent_error_is_reported_alike_on_the_event_path_and_by_the_resync() -> None:
    """One error policy (Reconciler.converge): AccessDenied is reported as `Repository Enrollment
    Failed`, NOT_STARTED, with a fingerprint notify tells once; the resync used to only log it."""
    # The event path: reading the repository is refused
    client, stub = stubbed("codecommit")
    stub.add_client_error("get_repository", "AccessDeniedException", "not allowed", 400)
    on_event = Reconciler(
        CONFIG, Clients(lambda s: {"codecommit": client}[s]), Emitter(cast(Any, Bus), "default")
    )
    with stub:
        load_handler()._reconcile_each(on_event, ("shop",))
    # The resync: the stack of a repository that lost its tags cannot be deleted
    cfn, cfn_stub = stubbed("cloudformation")
    tagging, tagging_stub = stubbed("resourcegroupstaggingapi")
    stack = {
        "StackName": "pipewarden-shop",
        "StackId": "arn:aws:cloudformation:us-east-1:1:stack/pipewarden-shop/1",
        "CreationTime": "2026-12-01T00:00:00Z",
        "StackStatus": "CREATE_COMPLETE",
        "Tags": [
            {"Key": "pipewarden:managed-by", "Value": "pipewarden"},
            {"Key": "pipewarden:repository", "Value": "shop"},
        ],
    }
    cfn_stub.add_response("describe_stacks", {"Stacks": [stack]})
    tagging_stub.add_response("get_resources", {"ResourceTagMappingList": []})
    cfn_stub.add_client_error("delete_stack", "AccessDenied", "not allowed to delete", 403)
    clients = {"cloudformation": cfn, "resourcegroupstaggingapi": tagging}
    by_resync = Reconciler(CONFIG, Clients(lambda s: clients[s]), Emitter(cast(Any, Bus), "default"))
    with cfn_stub, tagging_stub:
        report = resync(by_resync)
    assert report.errors and not report.transient
    for reconciler, says, standing in (
        (on_event, "not allowed", False),
        (by_resync, "not allowed to delete", True),
    ):
        [(kind, detail)] = reconciler.emitter.sent
        assert kind == "Repository Enrollment Failed"
        assert detail["repository"] == "shop" and detail["status"] == "NOT_STARTED"
        assert says in detail["reason"] and len(detail["fingerprint"]) == 16
        assert detail["standing"] is standing  # what the resync meets again is told once while it stands


@pytest.mark.parametrize(
    "busy",
    [
        # CloudFormation's words for a busy stack, as users report them verbatim (sources in
        # sandbox/moto_ext/cloudformation.py); tests/sandbox/test_async_stacks.py shows the sandbox says them.
        "Stack [arn:aws:cloudformation:us-east-1:1:stack/pipewarden-shop/1] cannot be deleted while in status "
        "UPDATE_IN_PROGRESS",
        "Stack:arn:aws:cloudformation:us-east-1:1:stack/pipewarden-shop/1 is in UPDATE_IN_PROGRESS state and "
        "can not be updated.",
    ],
)
def test_a_stack_busy_with_another_operation_is_waited_on_not_reported_failed(busy: str) -> None:
    """The conflict path: the stack was settled when read, busy when written (another run, a person)."""
    cfn, stub = stubbed("cloudformation")
    stub.add_client_error("delete_stack", "ValidationError", busy, 400)
    reconciler = reconciler_with({"cloudformation": cfn})
    decision = Decision(
        Action.DELETE, "shop", "pipewarden-shop", "repository is not enrolled", stack_id="id-1"
    )
    with stub:
        outcome = reconciler.apply(decision)
    stub.assert_no_pending_responses()
    assert outcome.action is Action.WAIT
    assert outcome.reason == BUSY
    assert reconciler.failures == []  # nothing emitted: the events client was never asked for


STACK_ID = "arn:aws:cloudformation:us-east-1:1:stack/pipewarden-shop/4f6e2d80-ad6f-11f0-9c1a-0affd3c1e5b3"


def described(status: str) -> dict[str, Any]:
    """DescribeStacks of the repository's blueprint stack in `status` (required members as the model has them)."""
    return {
        "Stacks": [
            {
                "StackName": "pipewarden-shop",
                "StackId": STACK_ID,
                "CreationTime": datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
                "StackStatus": status,
                "Tags": [
                    {"Key": "pipewarden:managed-by", "Value": "pipewarden"},
                    {"Key": "pipewarden:repository", "Value": "shop"},
                ],
            }
        ]
    }


def test_a_failed_delete_is_told_and_not_started_again() -> None:
    """DELETE_FAILED of a repository no longer enrolled: told once; deleting again here would fail the
    same way, in a loop at CloudFormation's speed (the resync tries once an hour)."""
    cfn, stub = stubbed("cloudformation")
    events, told = stubbed("events")
    stub.add_response("describe_stacks", described("DELETE_FAILED"), {"StackName": STACK_ID})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ID})
    told.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "1"}]}, None)
    reconciler = reconciler_with({"cloudformation": cfn, "events": events})  # no codecommit: never read
    with stub, told:
        outcome = on_stack_status(reconciler, STACK_ID, "DELETE_FAILED", "role has a policy attached")
    stub.assert_no_pending_responses()
    told.assert_no_pending_responses()
    assert outcome is not None and outcome.event == "Repository Enrollment Failed"
    assert outcome.follow_up is None and reconciler.decisions == []


def test_an_update_someone_else_made_is_neither_told_nor_corrected_at_once() -> None:
    cfn, stub = stubbed("cloudformation")
    stub.add_response("describe_stacks", described("UPDATE_COMPLETE"), {"StackName": STACK_ID})
    reconciler = reconciler_with({"cloudformation": cfn})  # no events, no codecommit: nothing else happens
    with stub:
        outcome = on_stack_status(
            reconciler,
            STACK_ID,
            "UPDATE_COMPLETE",
            "",
            "Console-UpdateStack-7f59c3cf-00d2-40c7-b2ff-e75db0987002",
        )
    assert outcome is not None and outcome.event == "" and outcome.follow_up is None


def test_a_transient_error_after_pipewardens_own_update_is_raised_before_anything_is_told() -> None:
    cfn, stub = stubbed("cloudformation")
    codecommit, reads = stubbed("codecommit")
    stub.add_response("describe_stacks", described("UPDATE_COMPLETE"), {"StackName": STACK_ID})
    reads.add_client_error("get_repository", "ThrottlingException", "Rate exceeded", 400)
    reconciler = reconciler_with({"cloudformation": cfn, "codecommit": codecommit})  # no events client
    with stub, reads, pytest.raises(Throttled):
        on_stack_status(reconciler, STACK_ID, "UPDATE_COMPLETE", "", stacks.own_token())
