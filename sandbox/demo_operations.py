"""The demo's operations step: pipewarden watches itself (README "Operating pipewarden").

An invocation of the enroll function fails three times (CodeCommit answers 503 to it) and lands in the
on-failure queue; at CloudWatch's next period its alarm goes off and the notify function tells it to
the default channel (what is wrong, how many wait, the command); `pipewarden replay-dlq` hands the
invocations back, the enroll function does its job, and the alarm's return to OK is told as resolved.
The sandbox evaluates the queue-depth alarms where CloudWatch's periods would end (sandbox/alarms.py).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cli.main import main as cli_main
from sandbox.faults import Rule
from sandbox.runtime import REGION

if TYPE_CHECKING:
    from sandbox.demo import Demo

PREFIX = "pipewarden"
REPOSITORY = "storefront-docs"
ALARM = "pipewarden-function-failures"


def watch_itself(demo: Demo) -> None:
    sb = demo.sandbox
    demo.step("pipewarden watches itself: an invocation dead-lettered, its alarm told, replay-dlq, resolved")
    sb.evaluate_alarms()  # CloudWatch's first period: every alarm from INSUFFICIENT_DATA to OK (not news)
    demo.settle()
    demo.new_messages()
    codecommit = sb.client("codecommit")
    arn = codecommit.create_repository(repositoryName=REPOSITORY)["repositoryMetadata"]["Arn"]
    before = len(sb.bus.dead_letters)
    demo.say(f"CodeCommit answers 503 to every call of the controller while {REPOSITORY} is tagged")
    sb.faults.configure([Rule(1.0, ("error503",), service="codecommit")], seed=1)
    try:
        codecommit.tag_resource(
            resourceArn=arn,
            tags={
                f"{PREFIX}:enabled": "true",
                f"{PREFIX}:ecs-cluster": "payments-prod",  # outside the allow-list: told once it is read
                f"{PREFIX}:ecs-service": "docs",
            },
        )
        demo.settle()
    finally:
        sb.faults.configure([], 0)
    letters = sb.bus.dead_letters[before:]
    demo.say(
        f"{len(letters)} invocation(s) of the enroll function failed three times: "
        "Lambda put them in the on-failure queue"
    )
    demo.check(
        bool(letters) and all(letter.rule.startswith("EnrollFunction-") for letter in letters),
        "the tag events were dead-lettered, not lost",
    )

    raised = sb.evaluate_alarms()
    demo.settle()
    demo.check(
        [(e["detail"]["alarmName"], e["detail"]["state"]["value"]) for e in raised] == [(ALARM, "ALARM")],
        f"CloudWatch's next period: {ALARM} went to ALARM",
    )
    told = demo.new_messages()
    sns = [json.loads(m["Message"]) for m in sb.sns_messages()[-len(told) :]] if told else []
    alarm: dict[str, Any] = next((m for m in sns if m.get("state") == "ALARM"), {})
    demo.say(f"fix    {alarm.get('decision', '')}")
    demo.check(
        len(told) == 1
        and alarm.get("severity") == "error"
        and alarm.get("detail", {}).get("waiting") == len(letters)
        and "pipewarden replay-dlq" in str(alarm.get("decision")),
        f"told once (severity=error): what is wrong, {len(letters)} waiting, the command that fixes it",
    )

    demo.say("$ pipewarden replay-dlq")
    demo.check(cli_main(["replay-dlq", "--endpoint-url", sb.url, "--region", REGION]) == 0, "replayed")
    demo.settle()
    demo.new_events()
    demo.check(
        any(
            e["detail"].get("repository") == REPOSITORY
            for e in sb.pipewarden_events("Repository Enrollment Rejected")
        ),
        f"the replayed event reached the enroll function: {REPOSITORY}'s cluster was rejected",
    )
    resolved = sb.evaluate_alarms()
    demo.settle()
    demo.check(
        [(e["detail"]["alarmName"], e["detail"]["state"]["value"]) for e in resolved] == [(ALARM, "OK")],
        f"the on-failure queue is empty: {ALARM} back to OK",
    )
    told = demo.new_messages()
    demo.check(
        [m["blocks"][0]["text"]["text"] for m in told if "Resolved" in m["text"]] == [f"Resolved: {ALARM}"],
        "told resolved",
    )
    # Handled: the demo's last check counts the invocations that failed and were not replayed.
    for letter in letters:
        sb.bus.dead_letters.remove(letter)
