"""`pipewarden`: run the local sandbox, enroll/unenroll repositories by tag, and show what is enrolled.

Against AWS it uses the default credential chain; against the sandbox pass --endpoint-url.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from pipewarden.contract import (
    BLUEPRINTS,
    COMPUTE_TYPES,
    DEFAULT_ALLOWED_BLUEPRINTS,
    DEFAULT_BLUEPRINT,
    NOTIFY_MODES,
    RETRY_MODES,
    ContractViolation,
    parse_settings,
)
from pipewarden.decisions import CLAIM
from pipewarden.naming import stack_name


def _client(args: argparse.Namespace, service: str) -> Any:
    import boto3

    kwargs: dict[str, Any] = {}
    if args.endpoint_url:
        kwargs["endpoint_url"] = args.endpoint_url
    if args.region:
        kwargs["region_name"] = args.region
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


def _repository_arn(args: argparse.Namespace, repository: str) -> str:
    meta = _client(args, "codecommit").get_repository(repositoryName=repository)["repositoryMetadata"]
    return str(meta["Arn"])


def cmd_local(args: argparse.Namespace) -> int:
    from sandbox.runtime import Sandbox

    parameters = {"AllowedEcsTargets": args.allowed_targets} if args.allowed_targets else {}
    parameters["PruneOnExecutionEnd"] = args.prune_on_execution_end
    parameters["AllowedBlueprints"] = args.allowed_blueprints
    if args.backoff_seconds:
        # Retries wait seconds here, not the minutes the deployed defaults wait.
        wait = str(args.backoff_seconds)
        parameters.update(RetryBaseSeconds="1", RetryCapSeconds=wait, RateLimitWaitSeconds=wait)
    sandbox = Sandbox(
        port=args.port,
        parameters=parameters,
        log_level=args.log_level,
        resync_every=args.resync_every,
        stack_seconds=args.stack_seconds,
        alarm_every=10.0,  # the queue-depth alarms, evaluated as CloudWatch would (sandbox/alarms.py)
    )
    sandbox.start()

    def show(event: dict[str, Any]) -> None:
        detail = event.get("detail", {})
        why = detail.get("reason") or detail.get("status") or ""
        if "objects-deleted" in detail:
            why = f"{detail['objects-deleted']} deleted, {detail['objects-kept']} kept"
        what = detail.get("repository") or detail.get("pipeline") or detail.get("scope") or ""
        print(f"  event: {event['detail-type']}: {what} {why}".rstrip(), flush=True)

    sandbox.bus.add_rule("pipewarden-local-printer", {"source": ["pipewarden"]}, show, retries=0)
    sandbox.slack.listeners.append(lambda payload: print(f"  slack: {payload.get('text', '')}", flush=True))
    print(sandbox.url, flush=True)
    if not parameters.get("AllowedEcsTargets"):
        print(
            "AllowedEcsTargets is empty (the template's default): every enrollment is rejected until the\n"
            "  platform team lists ECS targets. Start with --allowed-targets 'apps*' (or '*') to try it.",
            flush=True,
        )
    print(f"AllowedBlueprints: {args.allowed_blueprints or '(none)'}", flush=True)
    print(
        f"pipewarden sandbox ready (account 123456789012, us-east-1). Use any AWS client with\n"
        f"  --endpoint-url {sandbox.url}  and dummy credentials, e.g.\n"
        f"  AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 "
        f"aws --endpoint-url {sandbox.url} codecommit list-repositories\n"
        f"Ctrl-C stops it.",
        flush=True,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sandbox.stop()
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    prefix = args.tag_prefix
    values = {
        "enabled": "true",
        "blueprint": args.blueprint,
        "ecs-cluster": args.cluster,
        "ecs-service": args.service,
        "container": args.container,
        "ecr-repository": args.ecr_repository,
        "branch": args.branch,
        "buildspec": args.buildspec,
        "sam-template": args.sam_template,
        "compute": args.compute,
        "retry": args.retry,
        "max-retries": None if args.max_retries is None else str(args.max_retries),
        "notify": args.notify,
        "keep-executions": None if args.keep_executions is None else str(args.keep_executions),
        "test-target-group": args.test_target_group,
        "rollback-alarms": args.rollback_alarms,
    }
    tags = {f"{prefix}:{k}": v for k, v in values.items() if v is not None}
    try:
        parse_settings(args.repository, tags, prefix)
    except ContractViolation as violation:
        print(f"pipewarden: not tagged, {violation}", file=sys.stderr)
        return 2
    _client(args, "codecommit").tag_resource(resourceArn=_repository_arn(args, args.repository), tags=tags)
    print(f"tagged {args.repository}; pipewarden will converge pipeline {stack_name(args.repository)}")
    return 0


def cmd_unenroll(args: argparse.Namespace) -> int:
    codecommit = _client(args, "codecommit")
    arn = _repository_arn(args, args.repository)
    keys = [
        k
        for k in codecommit.list_tags_for_resource(resourceArn=arn).get("tags", {})
        if k.startswith(f"{args.tag_prefix}:")
    ]
    if keys:
        codecommit.untag_resource(resourceArn=arn, tagKeys=keys)
    print(
        f"removed {len(keys)} {args.tag_prefix}:* tags from {args.repository}; its pipeline will be torn down"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import datetime

    from cli.health import read_health
    from cli.progress import Progress
    from cli.status import collect_status, health_json, print_health, print_table

    def clients(service: str) -> Any:
        return _client(args, service)

    def repositories() -> list[dict[str, Any]]:
        with Progress("status") as progress:
            return collect_status(clients, args.tag_prefix, progress.update)

    if args.json == "list":  # as it always was: the repositories only
        print(json.dumps(repositories(), indent=2, default=str))
        return 0
    now = datetime.datetime.now(datetime.UTC)
    health = read_health(clients, args.stack_name, clients("cloudformation").meta.region_name, now)
    if args.json == "object":
        rows = repositories()
        print(json.dumps({"health": health_json(health, now), "repositories": rows}, indent=2, default=str))
        return 0
    print_health(health, now)
    print()
    rows = repositories()
    if not rows:
        print(f"no repository carries {args.tag_prefix}:enabled and no pipewarden stack exists")
        return 0
    print_table(rows)
    return 0


def add_status(sub: Any, common: argparse.ArgumentParser) -> None:
    status = sub.add_parser(
        "status",
        parents=[common],
        help="the controller's health (alarms, queues, last resync), then the enrolled repositories",
    )
    status.add_argument(
        "--json",
        nargs="?",
        const="list",
        choices=("list", "object"),
        help="for scripts: `--json` (list) prints the repositories' rows as it always has; `--json "
        'object` prints {"health": ..., "repositories": [...]} (README "Operating pipewarden")',
    )
    status.add_argument("--stack-name", default="pipewarden", help="controller stack (default: pipewarden)")
    status.set_defaults(run=cmd_status)


PRESETS: dict[str, dict[str, Any]] = {
    "rate-limit": {
        "phase": "BUILD",
        "log": [
            "ERROR: failed to solve: node:22-alpine: failed to resolve source metadata",
            "  429 Too Many Requests - toomanyrequests: You have reached your pull rate limit.",
        ],
    },
    "connection-reset": {"phase": "PRE_BUILD", "log": ["npm ERR! network read ECONNRESET"]},
    "test-failure": {
        "phase": "BUILD",
        "log": [
            "FAIL src/cart.test.js",
            "  cart > totals > adds tax",
            "Tests: 1 failed, 41 passed, 42 total",
        ],
    },
}


def cmd_script(args: argparse.Namespace) -> int:
    import urllib.request

    outcome: dict[str, Any] = dict(PRESETS.get(args.preset, {}))
    if args.succeed:
        outcome = {"fail": False}
    for key in ("phase", "code", "message"):
        if getattr(args, key):
            outcome[key] = getattr(args, key)
    if args.log:
        outcome["log"] = args.log
    if args.stopped_reason:
        outcome["stopped_reasons"] = args.stopped_reason
    hostile = bool(args.push_to or args.aws)
    if args.push_to:
        outcome["push_to"] = args.push_to
    if args.aws:
        outcome["aws"] = [aws_call(text) for text in args.aws]
    if hostile and not args.succeed:
        # A hostile buildspec fails only where IAM denies it, unless a failure is scripted as well.
        outcome["fail"] = bool(args.preset or args.phase or args.code or args.message or args.log)
    body = json.dumps({"pipeline": args.pipeline, "action": args.action, "outcomes": [outcome] * args.times})
    request = urllib.request.Request(  # noqa: S310 - the sandbox's own endpoint, given by the user
        f"{args.endpoint_url.rstrip('/')}/_sandbox/scripts",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        answer = json.loads(response.read())
    what = (
        "succeed"
        if not outcome.get("fail", True)
        else f"fail ({args.preset or outcome.get('phase', 'BUILD')})"
    )
    if hostile:
        fails = f" and {what}" if outcome.get("fail") else ", failing where IAM denies it"
        what = f"run a hostile buildspec ({', '.join(hostile_parts(outcome))}){fails}"
    print(f"the next {answer['queued']} run(s) of {args.action} in {args.pipeline} will {what}")
    return 0


def aws_call(text: str) -> dict[str, Any]:
    """`--aws SERVICE:OPERATION[:PARAMS-JSON]` as the sandbox API takes it (`s3:ListBuckets`)."""
    service, _, rest = text.partition(":")
    operation, _, params = rest.partition(":")
    if not service or not operation:
        raise SystemExit(f"pipewarden: --aws {text!r}: expected SERVICE:OPERATION[:PARAMS-JSON]")
    try:
        parsed = json.loads(params) if params else {}
    except ValueError as error:
        raise SystemExit(f"pipewarden: --aws {text!r}: parameters are not JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise SystemExit(f"pipewarden: --aws {text!r}: parameters must be a JSON object")
    return {"service": service, "operation": operation, "params": parsed}


def hostile_parts(outcome: dict[str, Any]) -> list[str]:
    parts = [f"push to {outcome['push_to']}"] if outcome.get("push_to") else []
    return parts + [f"aws {c['service']} {c['operation']}" for c in outcome.get("aws", [])]


def decisions_table(args: argparse.Namespace, dynamodb: Any) -> str:
    if args.table:
        return str(args.table)
    tables = [t for t in dynamodb.list_tables().get("TableNames", []) if "RetryDecisionsTable" in t]
    if len(tables) != 1:
        raise SystemExit(f"pipewarden: found {len(tables)} retry decision tables; name one with --table")
    return str(tables[0])


def cmd_retries(args: argparse.Namespace) -> int:
    dynamodb = _client(args, "dynamodb")
    items = dynamodb.query(
        TableName=decisions_table(args, dynamodb),
        # Decisions' sort keys begin with their ISO time; the claims that keep a decision single
        # (pipewarden.decisions) sort after every one of them.
        KeyConditionExpression="pipeline = :p AND decided < :claims",
        ExpressionAttributeValues={":p": {"S": args.pipeline}, ":claims": {"S": CLAIM}},
        ScanIndexForward=False,
        Limit=args.limit,
    ).get("Items", [])
    rows = [
        {
            "time": item["decided"]["S"].split("#", 1)[0][:19].replace("T", " "),
            "execution": item["execution"]["S"][:8],
            "stage": item["stage"]["S"],
            "decision": item["event"]["S"],
            "attempt": item["attempt"]["N"] if item["attempt"]["N"] != "0" else "",
            "reason": item["reason"]["S"],
        }
        for item in items
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no retry decisions recorded for {args.pipeline}")
        return 0
    columns = ("time", "execution", "stage", "decision", "attempt", "reason")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns[:-1]}
    print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns))
    for row in reversed(rows):
        print("  ".join(row[c].ljust(widths.get(c, 0)) for c in columns))
    return 0


def artifact_bucket(args: argparse.Namespace, pruner: Any) -> str:
    if args.bucket:
        return str(args.bucket)
    for name in sorted(pruner.managed_pipelines()):
        store = _client(args, "codepipeline").get_pipeline(name=name)["pipeline"].get("artifactStore", {})
        if store.get("location"):
            return str(store["location"])
    raise SystemExit(
        "pipewarden: no pipewarden pipeline found to learn the artifact bucket from; use --bucket"
    )


def cmd_prune(args: argparse.Namespace) -> int:
    import datetime

    from cli.progress import Progress
    from pipewarden.aws import Clients
    from pipewarden.config import PruneConfig
    from pipewarden.emit import Emitter
    from pipewarden.prune import Pruner

    clients = Clients(lambda service: _client(args, service))
    grace = datetime.timedelta(hours=args.grace_hours)
    probe = Pruner(PruneConfig("", args.tag_prefix, grace), clients)
    config = PruneConfig(artifact_bucket(args, probe), args.tag_prefix, grace)
    emitter = None if args.dry_run else Emitter(lambda: clients.events, config.event_bus)
    with Progress("prune") as progress:
        pruner = Pruner(config, clients, emitter, dry_run=args.dry_run, progress=progress.update)
        report = pruner.run(only=args.pipeline)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"bucket {report.bucket}, scope {report.scope}, grace {args.grace_hours:g} h")
    print(f"  {'KEY PREFIX':<22} {'KEPT':>6} {'KEPT BYTES':>11} {verb.upper():>13} {'BYTES':>11}")
    rows = [*sorted(report.prefixes.items()), ("total", report.total())]
    for prefix, tally in rows:
        kept = f"{tally.objects_kept:>6} {tally.bytes_kept:>11}"
        print(f"  {prefix:<22} {kept} {tally.objects_deleted:>13} {tally.bytes_deleted:>11}")
    if args.dry_run:
        for key in report.to_delete:
            print(f"  {verb}: {key}")
    print(
        f"{report.list_calls} list calls, {report.delete_calls} DeleteObjects calls, {report.duration:.2f} s"
    )
    if report.young:
        print(
            f"{report.young} objects no execution needs were kept only because they are younger than "
            f"{args.grace_hours:g} h (--grace-hours 0 includes them)"
        )
    for error in report.errors:
        print(f"  error: {error}", file=sys.stderr)
    return 0 if not report.errors else 1


def add_prune(sub: Any, common: argparse.ArgumentParser) -> None:
    prune = sub.add_parser("prune", parents=[common], help="plan and delete artifacts no execution needs")
    prune.add_argument("--pipeline", help="only this pipeline's key prefix (default: the whole bucket)")
    prune.add_argument("--dry-run", action="store_true", help="print the plan and the keys, delete nothing")
    prune.add_argument(
        "--grace-hours", type=float, default=24.0, help="never touch younger artifacts (default 24)"
    )
    prune.add_argument("--bucket", help="artifact bucket (default: the one pipewarden's pipelines use)")
    prune.set_defaults(run=cmd_prune)


def add_script(sub: Any) -> None:
    script = sub.add_parser("script", help="sandbox only: script how the next runs of an action end")
    script.add_argument("pipeline")
    script.add_argument("action", help="action name, e.g. Build or Deploy")
    script.add_argument("--endpoint-url", required=True, help="the sandbox, e.g. http://127.0.0.1:4599")
    script.add_argument("--preset", choices=tuple(PRESETS), help="a realistic failure")
    script.add_argument("--succeed", action="store_true", help="the run succeeds")
    script.add_argument("--phase", help="failing CodeBuild phase (default BUILD)")
    script.add_argument("--code", help="phase status code (default COMMAND_EXECUTION_ERROR)")
    script.add_argument("--message", help="error message")
    script.add_argument("--log", action="append", help="a build log line (repeatable)")
    script.add_argument(
        "--stopped-reason",
        action="append",
        metavar="REASON",
        help="an ECS deploy's task that failed, with its stoppedReason (repeatable; "
        "'TASK REASON | CONTAINER REASON' for both)",
    )
    script.add_argument("--push-to", help="a hostile build: push the image to this ECR repository instead")
    script.add_argument(
        "--aws",
        action="append",
        metavar="SERVICE:OPERATION[:PARAMS-JSON]",
        help="a hostile build: an AWS call its buildspec makes as the build role (repeatable), e.g. "
        's3:GetObject:\'{"Bucket": "b", "Key": "k"}\'',
    )
    script.add_argument("--times", type=int, default=1, help="how many runs end this way")
    script.set_defaults(run=cmd_script)


def cmd_replay(args: argparse.Namespace) -> int:
    from cli.health import waiting_in
    from cli.progress import Progress
    from cli.replay import queue_urls, replay

    sqs = _client(args, "sqs")
    urls = args.queue_url or queue_urls(sqs, args.stack_name)
    if not urls:
        print(f"pipewarden: no dead-letter queue of stack {args.stack_name} found", file=sys.stderr)
        return 1
    waiting = sum(waiting_in(sqs, url)[0] for url in urls)  # approximate, as SQS counts
    with Progress("replay-dlq") as progress:

        def handled(done: int) -> None:
            progress.update(done, max(waiting, done), "events")

        report = replay(sqs, _client(args, "lambda"), urls, stack=args.stack_name, progress=handled)
    for url in urls:
        print(f"queue {url}")
    print(
        f"replayed {report.replayed}, failed {report.failed} (left in the queue), "
        f"unreadable {report.unreadable}"
    )
    for error in report.errors[:20]:
        print(f"  {error}", file=sys.stderr)
    return 0 if not report.failed and not report.unreadable else 1


def add_replay(sub: Any, common: argparse.ArgumentParser) -> None:
    replay = sub.add_parser(
        "replay-dlq", parents=[common], help="invoke dead-lettered events again (on-failure and rule DLQs)"
    )
    replay.add_argument("--stack-name", default="pipewarden", help="controller stack (default: pipewarden)")
    replay.add_argument("--queue-url", action="append", help="replay this queue instead (repeatable)")
    replay.set_defaults(run=cmd_replay)


def cmd_doctor(args: argparse.Namespace) -> int:
    import boto3

    from cli.doctor import Options, exit_code, run

    # A session of its own: the default credential chain read now (a profile, the environment, SSO).
    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    region = session.region_name
    if not region:
        print("pipewarden: no region: pass --region or set AWS_REGION", file=sys.stderr)
        return 2
    built: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in built:
            built[service] = session.client(service, endpoint_url=args.endpoint_url)  # type: ignore[call-overload]
        return built[service]

    checks = run(clients, Options(args.stack_name, region, args.allowed_targets))
    if args.json:
        print(json.dumps([c.as_json() for c in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    return exit_code(checks)


def add_doctor(sub: Any, common: argparse.ArgumentParser) -> None:
    doctor = sub.add_parser(
        "doctor",
        parents=[common],
        help="read-only preflight: may the caller deploy, does the region fit, is the deployed stack well",
    )
    doctor.add_argument("--stack-name", default="pipewarden", help="controller stack (default: pipewarden)")
    doctor.add_argument(
        "--allowed-targets",
        help="the AllowedEcsTargets value you will deploy (default: the deployed stack's parameter)",
    )
    doctor.add_argument("--json", action="store_true", help="a list of {check, status, detail, fix}")
    doctor.set_defaults(run=cmd_doctor)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint-url", help="AWS endpoint, e.g. http://127.0.0.1:4599 for the sandbox")
    common.add_argument("--region", help="AWS region (default: from the environment / profile)")
    common.add_argument("--tag-prefix", default="pipewarden", help="tag key prefix (default: pipewarden)")

    top = argparse.ArgumentParser(prog="pipewarden", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="run the sandbox with the controller deployed into it")
    local.add_argument("--port", type=int, default=4599)
    local.add_argument(
        "--allowed-targets",
        help="AllowedEcsTargets parameter (default: the template's, empty: nothing allowed)",
    )
    local.add_argument("--resync-every", type=float, default=None, help="run the resync every N seconds")
    local.add_argument("--log-level", default="WARNING", help="handlers' log level (default: WARNING)")
    local.add_argument(
        "--stack-seconds",
        type=float,
        default=0.5,
        help="how long a CloudFormation stack operation stays *_IN_PROGRESS (default: 0.5; 0: done at once)",
    )
    local.add_argument(
        "--backoff-seconds", type=int, default=5, help="longest retry wait in the sandbox (0: the template's)"
    )
    local.add_argument(
        "--allowed-blueprints",
        default=",".join(BLUEPRINTS),
        help=f"AllowedBlueprints parameter (default here: every blueprint, {','.join(BLUEPRINTS)}; the "
        f"template's default is {','.join(DEFAULT_ALLOWED_BLUEPRINTS)})",
    )
    local.add_argument(
        "--prune-on-execution-end",
        choices=("ENABLED", "DISABLED"),
        default="ENABLED",
        help="PruneOnExecutionEnd parameter (default here: ENABLED, so each execution's prune shows at once;"
        " the template's default is DISABLED)",
    )
    local.set_defaults(run=cmd_local)

    enroll = sub.add_parser("enroll", parents=[common], help="tag a repository so it gets a pipeline")
    enroll.add_argument("repository")
    enroll.add_argument(
        "--blueprint",
        choices=BLUEPRINTS,
        help=f'what the pipeline does after its build (default: {DEFAULT_BLUEPRINT}; README "Blueprints")',
    )
    enroll.add_argument("--cluster", help="ECS cluster to deploy to (ecs-rolling, ecs-blue-green)")
    enroll.add_argument("--service", help="ECS service to update (ecs-rolling, ecs-blue-green)")
    enroll.add_argument(
        "--container",
        help="container that takes the image (default: repository; ecs-blue-green: the one the service's "
        "load balancer sends traffic to)",
    )
    enroll.add_argument(
        "--test-target-group",
        help="ecs-blue-green: the second target group of the service's load balancer "
        "(the service names the first)",
    )
    enroll.add_argument(
        "--rollback-alarms",
        help="ecs-blue-green: comma-separated CloudWatch alarms that roll a deployment back (up to 10)",
    )
    enroll.add_argument("--ecr-repository", help="ECR repository (default: repository name)")
    enroll.add_argument("--branch", help="branch that triggers the pipeline (default: main)")
    enroll.add_argument("--buildspec", help="buildspec path in the repository (default: managed buildspec)")
    enroll.add_argument(
        "--sam-template", help="SAM template path in the repository (lambda; default: template.yaml)"
    )
    enroll.add_argument("--compute", choices=tuple(COMPUTE_TYPES))
    enroll.add_argument("--retry", choices=RETRY_MODES)
    enroll.add_argument("--max-retries", type=int)
    enroll.add_argument("--notify", choices=NOTIFY_MODES)
    enroll.add_argument("--keep-executions", type=int)
    enroll.set_defaults(run=cmd_enroll)

    unenroll = sub.add_parser("unenroll", parents=[common], help="remove the tags; the pipeline is torn down")
    unenroll.add_argument("repository")
    unenroll.set_defaults(run=cmd_unenroll)

    add_status(sub, common)

    retries = sub.add_parser("retries", parents=[common], help="recent retry decisions for a pipeline")
    retries.add_argument("pipeline")
    retries.add_argument("--limit", type=int, default=20)
    retries.add_argument(
        "--table", help="retry decisions table (default: the one whose name has RetryDecisionsTable)"
    )
    retries.add_argument("--json", action="store_true")
    retries.set_defaults(run=cmd_retries)

    add_script(sub)
    add_prune(sub, common)
    add_replay(sub, common)
    add_doctor(sub, common)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (`pipewarden status | head`): what is left to print has no reader, so it
        # goes nowhere rather than into a traceback (Python's own advice for SIGPIPE).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, ClientError | BotoCoreError):
            print(f"pipewarden: {error}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
