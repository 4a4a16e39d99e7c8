"""The sandbox itself: moto server on 127.0.0.1 + extensions + event bus + the controller deployed into it."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.credentials import ReadOnlyCredentials

from sandbox import faults as fault_injection
from sandbox import template as cfn_template
from sandbox.alarms import AlarmEvaluator
from sandbox.bus import DeadLetter, Event, EventBus, Rule
from sandbox.executions import Outcome, RoleSession, Simulator
from sandbox.faults import EXEMPT_KEY, Faults
from sandbox.iam import credentials, policies, stack_handlers
from sandbox.iam.catalog import resource_type_of
from sandbox.iam.evaluate import Request
from sandbox.iam.requests import MotoState
from sandbox.lambdas import Function
from sandbox.moto_ext import cloudformation as cloudformation_ext
from sandbox.moto_ext import publish
from sandbox.server import SandboxServer
from sandbox.shape_recorder import ShapeRecorder
from sandbox.slack_sink import SlackSink

ACCOUNT = "123456789012"
REGION = "us-east-1"
# The controller's managed policies that are permissions boundaries, by logical id, and their names here.
BOUNDARIES = {
    "PermissionsBoundary": "pipewarden-boundary",
    "ApplicationBoundary": "pipewarden-application-boundary",
    "ApplicationDeployBoundary": "pipewarden-application-deploy-boundary",
}
ROOT = Path(__file__).resolve().parent.parent
RULE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")
NOTIFICATIONS_QUEUE = "sandbox-notifications"
START_PIPELINE = "codepipeline:StartPipelineExecution"


class Sandbox:
    """Local AWS with pipewarden deployed, reached at `url` like any AWS endpoint.

    `parameters` overrides template parameters as `sam deploy --parameter-overrides` would.
    `resync_every` (seconds) runs the scheduled resync on a timer; None leaves it to callers.
    `stack_seconds` is how long a CloudFormation stack operation stays *_IN_PROGRESS (0: done within
    its API call).
    `alarm_every` (seconds) evaluates the queue-depth alarms on a timer, as CloudWatch would each
    period; None leaves it to callers (`evaluate_alarms`).
    """

    def __init__(
        self,
        port: int = 0,
        parameters: Mapping[str, str] | None = None,
        log_level: str = "WARNING",
        resync_every: float | None = None,
        root: Path = ROOT,
        stack_seconds: float = 0.5,
        alarm_every: float | None = None,
    ) -> None:
        self.port = port
        self.parameters = dict(parameters or {})
        self.log_level = log_level
        self.resync_every = resync_every
        self.stack_seconds = stack_seconds
        self.root = root
        self.bus = EventBus()
        self.functions: dict[str, Function] = {}
        self.schedules: list[tuple[Function, str]] = []
        self.outputs: dict[str, str] = {}
        self.events: list[Event] = []  # every event pipewarden emitted, in order
        self.pipeline_events: list[Event] = []  # every event CodePipeline emitted, in order
        self.stack_events: list[Event] = []  # every stack status change CloudFormation emitted, in order
        self.url = ""
        self._server: Any = None
        self._timer: threading.Timer | None = None
        self._role_clients: dict[str, Any] = {}
        self._role_clients_lock = threading.Lock()
        self.roles = ServiceRoles(self)
        self.simulator = Simulator(self.bus.call_soon, self.client, self.roles)
        self._pipeline_rules: dict[tuple[str, str, str, str], Rule] = {}
        self._pollers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.slack = SlackSink()
        self._notifications_url = ""
        self._failure_queue_url = ""
        self._sns_received: list[dict[str, Any]] = []
        self.alarm_every = alarm_every
        self.alarms = AlarmEvaluator(self.client, self.bus.put, ACCOUNT, REGION)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        from sandbox import moto_ext

        moto_ext.install()
        credentials.install()
        # Function roles carry AWS managed policies (SAM attaches AWSLambdaBasicExecutionRole & co).
        os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        from moto.core.base_backend import BackendDict

        BackendDict.reset()  # moto's state is per process: a new sandbox starts from an empty account
        # ... and its functions start cold, as new Lambda containers would: no client built for an
        # earlier sandbox's endpoint survives.
        from pipewarden import aws

        aws.forget_clients()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # Powertools warns on every invocation without application metrics; metrics are off here.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.slack.start()
        self._server = SandboxServer(
            "127.0.0.1",
            self.port,
            {"scripts": self._add_scripts, "faults": self._set_faults},
            invoker=self._invoke,
        )
        # The keys CodePipeline, CodeBuild and EventBridge act with are AWS's own calls, not the
        # controller's: injected faults are for the controller only, as for the sandbox's own key.
        self._server.faults = ServiceFaults()
        self._server.start()
        _, port = self._server.get_host_and_port()
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        os.environ.update(self.client_environment())
        # CloudFormation deploys a stack with its service role's credentials: each handler asks IAM.
        cloudformation_ext.authorizer = self._authorize_stack_handler
        # Stack operations take time: the rest of each runs on the bus, `stack_seconds` later.
        cloudformation_ext.delay = self.stack_seconds
        cloudformation_ext.scheduler = functools.partial(self.bus.call_later, name="cloudformation")
        publish.subscribe(self.bus.put)
        self.simulator.install()
        self.bus.rule_sources.append(self.stack_rules)
        self.bus.start()
        self.deploy()
        if self.resync_every:
            self._schedule_resync()
        if self.alarm_every:
            thread = threading.Thread(target=self._evaluate_alarms_every, name="alarms", daemon=True)
            thread.start()
            self._pollers.append(thread)
        return self

    def stop(self) -> None:
        self.bus.wait_idle(30)  # let in-flight events finish before the server goes away
        self._stopping.set()
        for poller in self._pollers:
            poller.join(timeout=5)
        if self._timer is not None:
            self._timer.cancel()
        publish.unsubscribe(self.bus.put)
        self.bus.stop()
        for function in self.functions.values():
            function.stop()
        if self._server is not None:
            self._server.stop()
        self.slack.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def client_environment(self) -> dict[str, str]:
        """What any AWS SDK or the `aws` CLI needs to talk to this sandbox instead of AWS."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # moto answers an operation it lacks with HTTP 500, which SDKs would retry at length.
            "AWS_MAX_ATTEMPTS": "1",
        }

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=EXEMPT_KEY,  # the sandbox's own calls: never given injected faults
            aws_secret_access_key="testing",
        )

    def client_with(self, service: str, credentials: ReadOnlyCredentials) -> Any:
        """A client of the sandbox whose every call is signed with `credentials` (a role's session).

        One client per service serves every session: each call is signed with the session's
        credentials as the functions' calls are with their role's (`sandbox.iam.credentials`), so a
        build's session needs no client of its own (building one costs milliseconds).
        """
        with self._role_clients_lock:
            client = self._role_clients.get(service)
            if client is None:
                import boto3

                # No keys of its own: it signs with the credentials of the call's `acting_as` block.
                client = boto3.client(service, endpoint_url=self.url, region_name=REGION)  # type: ignore[call-overload]
                self._role_clients[service] = client
        return SignedAs(client, credentials)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return self.bus.wait_idle(timeout)

    def pipewarden_events(self, detail_type: str | None = None) -> list[Event]:
        return [e for e in self.events if detail_type is None or e["detail-type"] == detail_type]

    # -- deploying the controller ----------------------------------------------------------------
    def deploy(self) -> None:
        """Create the controller stack's resources the functions rely on, then wire the functions."""
        tpl = cfn_template.load(self.root / "template.yaml")
        resources: dict[str, dict[str, str]] = {}
        bucket = f"pipewarden-artifacts-{ACCOUNT}-{REGION}"
        resources["ArtifactBucket"] = {"Ref": bucket, "Arn": f"arn:aws:s3:::{bucket}"}
        for name, spec in tpl["Resources"].items():
            physical = f"pipewarden-{name}"
            if spec["Type"] == "AWS::SQS::Queue":
                url = self.client("sqs").create_queue(QueueName=physical)["QueueUrl"]
                resources[name] = {
                    "Ref": url,
                    "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical}",
                    "QueueName": physical,
                }
            elif spec["Type"] == "AWS::SNS::Topic":
                arn = self.client("sns").create_topic(Name=physical)["TopicArn"]
                resources[name] = {"Ref": arn, "TopicName": physical}
            elif spec["Type"] == "AWS::DynamoDB::Table":
                props = spec["Properties"]
                self.client("dynamodb").create_table(
                    TableName=physical,
                    AttributeDefinitions=props["AttributeDefinitions"],
                    KeySchema=props["KeySchema"],
                    BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
                )
                resources[name] = {
                    "Ref": physical,
                    "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
                }
        for name, physical in BOUNDARIES.items():
            resources[name] = {"Ref": f"arn:aws:iam::{ACCOUNT}:policy/pipewarden/{physical}"}
        translated = policies.sam_translate(tpl, self.parameters)
        for name, spec in translated["Resources"].items():
            if spec["Type"] == "AWS::IAM::Role":
                path = str(spec["Properties"].get("Path", "/"))
                # CloudFormation names a role <stack>-<logical id>-<random>, as the SCP's patterns expect.
                role = f"pipewarden-{name}-{hashlib.sha256(name.encode()).hexdigest()[:12].upper()}"
                resources[name] = {"Ref": role, "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{role}"}
        resources["PipewardenLayer"] = {"Ref": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:pipewarden:1"}
        for name, spec in tpl["Resources"].items():
            if spec["Type"] == "AWS::Serverless::Function":
                resources[name] = {
                    "Ref": f"pipewarden-{name}",
                    "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:pipewarden-{name}",
                }
                # SAM names each event's rule <function><event> (its Ref is the rule's name).
                for event_name in spec["Properties"].get("Events", {}):
                    rule = f"pipewarden-{name}{event_name}"
                    resources[f"{name}{event_name}"] = {
                        "Ref": rule,
                        "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}",
                    }
        resolver = cfn_template.Resolver(tpl, self.parameters, resources, ACCOUNT, REGION)
        # Redrive policies are set once every queue exists (a dead-letter queue may come later in the
        # template): SQS, and moto, move a message received maxReceiveCount times to the dead-letter queue.
        for name, spec in tpl["Resources"].items():
            if spec["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in spec.get("Properties", {}):
                redrive = resolver.resolve(spec["Properties"]["RedrivePolicy"])
                self.client("sqs").set_queue_attributes(
                    QueueUrl=resources[name]["Ref"], Attributes={"RedrivePolicy": json.dumps(redrive)}
                )
        self._create_bucket(bucket, resolver.resolve(tpl["Resources"]["ArtifactBucket"]["Properties"]))
        for spec in tpl["Resources"].values():
            if spec["Type"] == "AWS::CloudWatch::Alarm" and resolver.conditions.get(
                spec.get("Condition"), True
            ):
                self.alarms.create(resolver.resolve(spec["Properties"]))
        for name, physical in BOUNDARIES.items():
            self._create_boundary(resolver.resolve(tpl["Resources"][name]["Properties"]), physical)
        # Every role of the stack as SAM deploys it: the CloudFormation role and each function's
        # role with the policies SAM adds (logs, X-Ray, the SQS poller, the on-failure destination).
        roles_resolver = cfn_template.Resolver(translated, self.parameters, resources, ACCOUNT, REGION)
        for name, spec in translated["Resources"].items():
            if spec["Type"] == "AWS::IAM::Role":
                self._create_role(resources[name]["Ref"], roles_resolver.resolve(spec["Properties"]))
        bucket_policy = resolver.resolve(
            tpl["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
        )
        self.client("s3").put_bucket_policy(Bucket=bucket, Policy=policy_text(bucket_policy))
        self.outputs = {
            k: str(resolver.resolve(v["Value"]))
            for k, v in tpl.get("Outputs", {}).items()
            if resolver.conditions.get(v.get("Condition"), True)
        }
        self._failure_queue_url = self.outputs["FunctionFailureQueueUrl"]
        self.bus.on_dead_letter = self._to_failure_queue
        self._connect_notifications(str(resolver.resolve({"Ref": "SlackSecretName"})))
        self._wire_functions(tpl, resolver)
        self.bus.add_rule(
            "sandbox-record-pipewarden-events", {"source": ["pipewarden"]}, self.events.append, retries=0
        )
        self.bus.add_rule(
            "sandbox-record-pipeline-events",
            {"source": ["aws.codepipeline"]},
            self.pipeline_events.append,
            retries=0,
        )
        self.bus.add_rule(
            "sandbox-record-stack-events",
            {"source": ["aws.cloudformation"]},
            self.stack_events.append,
            retries=0,
        )

    def _connect_notifications(self, slack_secret: str) -> None:
        """What a platform team sets up once: the Slack webhook secret and a subscriber to the topic.

        The webhook is the local sink; the subscriber is an SQS queue the demo and tests read.
        """
        if slack_secret:
            self.client("secretsmanager").create_secret(
                Name=slack_secret, SecretString=json.dumps({"webhook_url": self.slack.url})
            )
        url = self.client("sqs").create_queue(QueueName=NOTIFICATIONS_QUEUE)["QueueUrl"]
        self._notifications_url = url
        self.client("sns").subscribe(
            TopicArn=self.outputs["NotificationTopicArn"],
            Protocol="sqs",
            Endpoint=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NOTIFICATIONS_QUEUE}",
        )

    def sns_messages(self) -> list[dict[str, Any]]:
        """Every notification the topic delivered so far, as its SQS subscriber received them, in order."""
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self._notifications_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            ).get("Messages", [])
            if not batch:
                return list(self._sns_received)
            for message in batch:
                self._sns_received.append(json.loads(message["Body"]))
            sqs.delete_message_batch(
                QueueUrl=self._notifications_url,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
            )

    def slack_messages(self) -> list[dict[str, Any]]:
        """Every payload the local Slack webhook accepted, in order."""
        return list(self.slack.received)

    def _create_bucket(self, bucket: str, props: dict[str, Any]) -> None:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket)
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
                "BucketKeyEnabled": r["BucketKeyEnabled"],
            }
            for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
        s3.put_public_access_block(
            Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])

    def _create_boundary(self, props: dict[str, Any], name: str = "pipewarden-boundary") -> None:
        self.client("iam").create_policy(
            PolicyName=name,
            Path=props.get("Path", "/"),
            PolicyDocument=policy_text(props["PolicyDocument"]),
            Description=props.get("Description", ""),
        )

    def _create_role(self, name: str, props: dict[str, Any]) -> None:
        iam = self.client("iam")
        iam.create_role(
            RoleName=name,
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=policy_text(props["AssumeRolePolicyDocument"]),
            Tags=props.get("Tags", []),
            **(
                {"PermissionsBoundary": props["PermissionsBoundary"]}
                if props.get("PermissionsBoundary")
                else {}
            ),
        )
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=policy["PolicyName"],
                PolicyDocument=policy_text(policy["PolicyDocument"]),
            )
        for arn in props.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)

    def _wire_functions(self, tpl: dict[str, Any], resolver: cfn_template.Resolver) -> None:
        global_function = tpl.get("Globals", {}).get("Function", {})
        global_env = resolver.resolve(global_function.get("Environment", {}).get("Variables", {}))
        for name, spec in tpl["Resources"].items():
            if spec["Type"] != "AWS::Serverless::Function":
                continue
            props = spec["Properties"]
            env = dict(global_env)
            env.update(resolver.resolve(props.get("Environment", {}).get("Variables", {})))
            env["POWERTOOLS_LOG_LEVEL"] = self.log_level
            # Each function runs in its own process with its own environment (sandbox.lambdas). The
            # sandbox's process gets the keys too, for callers that read the controller's settings
            # (ControllerConfig.from_env): only keys no two functions set differently live there.
            os.environ.update({k: str(v) for k, v in env.items() if k != "POWERTOOLS_SERVICE_NAME"})
            function = Function(name, self.root / props["CodeUri"], props["Handler"], ACCOUNT, REGION)
            function.variables = {k: str(v) for k, v in env.items()}
            function.timeout_seconds = float(props.get("Timeout", global_function.get("Timeout", 3)))
            function.memory_mb = int(props.get("MemorySize", global_function.get("MemorySize", 128)))
            if self.log_level in ("CRITICAL", "ERROR"):
                function.echo = False  # their failures are counted, not printed
            # Lambda runs the function with its execution role's session credentials.
            role_arn = str(resolver.resolve(props.get("Role") or {"Fn::GetAtt": [f"{name}Role", "Arn"]}))
            function.role_arn = role_arn
            function.credentials = credentials.from_sts(
                self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=f"pipewarden-{name}")
            )
            self.functions[name] = function
            for event_name, event in props.get("Events", {}).items():
                if event["Type"] in RULE_EVENT_TYPES:
                    if resolver.resolve(event["Properties"].get("State", "ENABLED")) == "DISABLED":
                        continue  # a disabled rule matches no event
                    pattern = resolver.resolve(event["Properties"]["Pattern"])
                    self.bus.add_rule(
                        f"{name}-{event_name}", pattern, function.invoke, destination=function.arn
                    )
                elif event["Type"] == "Schedule":
                    self.schedules.append((function, str(resolver.resolve(event["Properties"]["Schedule"]))))
                elif event["Type"] == "SQS":
                    arn = str(resolver.resolve(event["Properties"]["Queue"]))
                    self._poll_queue(function, arn, int(event["Properties"].get("BatchSize", 10)))

    def as_function(self, function: Function, action: str, resource: str) -> bool:
        """Whether Lambda, acting with the function's role (its event source mapping, its destination),
        may make this call; a denial is logged, as Lambda reports it in the function's metrics."""
        if function.credentials is None:
            return True
        decision = self._server.iam.authorize(function.credentials.access_key, action, resource)
        if decision is None or decision.allowed:
            return True
        logging.getLogger(__name__).warning("%s may not %s on %s", function.name, action, resource)
        return False

    def _poll_queue(self, function: Function, queue_arn: str, batch: int) -> None:
        """An SQS event source mapping: receive, invoke the function, delete what it did not report failed.

        Lambda polls with the function's role, which needs sqs:ReceiveMessage, sqs:DeleteMessage and
        sqs:GetQueueAttributes on the queue (checked when the mapping is created, and on each call).
        https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions
        """
        sqs = self.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        if not self.as_function(function, "sqs:GetQueueAttributes", queue_arn):
            return  # AWS refuses to create the mapping

        def deliver(messages: list[dict[str, Any]]) -> None:
            records = [sqs_record(m, queue_arn) for m in messages]
            failed: set[str] = set()
            try:
                result = function.invoke({"Records": records})
                failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            except Exception:
                failed = {m["MessageId"] for m in messages}  # the whole batch comes back after its timeout
            done = [
                {"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]}
                for m in messages
                if m["MessageId"] not in failed
            ]
            if done and self.as_function(function, "sqs:DeleteMessage", queue_arn):
                sqs.delete_message_batch(QueueUrl=url, Entries=done)
            if done and self.bus.twice():
                # SQS delivers at least once: the same messages reach the function again.
                # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html
                again = [r for r in records if r["messageId"] in {d["Id"] for d in done}]
                with contextlib.suppress(Exception):
                    function.invoke({"Records": again})

        def poll() -> None:
            while not self._stopping.wait(0.2):
                if not self.as_function(function, "sqs:ReceiveMessage", queue_arn):
                    continue
                try:
                    messages = sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=min(batch, 10),
                        VisibilityTimeout=5,
                        AttributeNames=["All"],
                    ).get("Messages", [])
                except Exception:  # noqa: S112 - the server is going away with the sandbox
                    continue
                if messages:
                    self.bus.call_soon(functools.partial(deliver, messages), f"{function.name}-sqs")

        thread = threading.Thread(target=poll, name=f"sqs-{function.name}", daemon=True)
        thread.start()
        self._pollers.append(thread)

    def _authorize_stack_handler(self, role_arn: str, call: stack_handlers.HandlerCall) -> str | None:
        """None when the stack's role may make the handler's call, else AWS's AccessDenied message."""
        session = self.roles.session(role_arn, stack_handlers.SESSION_NAME, keep=True)
        decision = self._server.iam.authorize(
            session.credentials.access_key, call.action, call.resource, call.context
        )
        if decision is None or decision.allowed:
            return None
        return str(decision.message(Request(session.arn, call.action, call.resource, {})))

    @property
    def faults(self) -> Faults:
        return self._server.faults  # type: ignore[no-any-return]

    @property
    def shapes(self) -> ShapeRecorder:
        """Checks responses against botocore's models once `enabled` (sandbox/shape_recorder.py)."""
        return self._server.shapes  # type: ignore[no-any-return]

    def _set_faults(self, request: dict[str, Any]) -> dict[str, Any]:
        if "rules" in request:
            rules = [fault_injection.Rule.from_json(r) for r in request["rules"]]
            self.faults.configure(rules, int(request.get("seed", 0)))
        return {
            "rules": len(self.faults.rules),
            "calls": self.faults.calls,
            "injected": dict(self.faults.injected),
        }

    def _invoke(self, name: str, payload: bytes, invocation_type: str) -> tuple[int, bytes]:
        """Lambda Invoke of one of the controller's functions, by name or ARN."""
        bare = name.split(":function:", 1)[-1].split(":", 1)[0].removeprefix("pipewarden-")
        function = self.functions.get(bare)
        if function is None:
            message = f"Function not found: {name}"
            return 404, json.dumps({"Type": "User", "Message": message}).encode()
        event = json.loads(payload or b"{}")
        if invocation_type == "Event":
            self.bus.send(event, function.invoke, f"{bare}-invoke", destination=function.arn)
            return 202, b""
        return 200, json.dumps(function.invoke(event), default=str).encode()

    def _to_failure_queue(self, letter: DeadLetter) -> None:
        """What Lambda's on-failure destination sends once an asynchronous invocation's retries are spent."""
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{letter.destination}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": letter.attempts,
            },
            "requestPayload": letter.event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": letter.error.strip().splitlines()[-1][:1000]},
        }
        # Lambda sends the record with the function's role (SAM grants it sqs:SendMessage on the queue).
        function = next((f for f in self.functions.values() if f.arn == letter.destination), None)
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self._failure_queue_url.rsplit('/', 1)[-1]}"
        if function is not None and not self.as_function(function, "sqs:SendMessage", queue_arn):
            return  # a destination Lambda may not write to: the record is lost, as on AWS
        self.client("sqs").send_message(QueueUrl=self._failure_queue_url, MessageBody=json.dumps(record))

    def _add_scripts(self, request: dict[str, Any]) -> dict[str, Any]:
        outcomes = [Outcome.from_json(o) for o in request["outcomes"]]
        self.simulator.scripts.add(str(request["pipeline"]), str(request["action"]), outcomes)
        return {"pipeline": request["pipeline"], "action": request["action"], "queued": len(outcomes)}

    def stack_rules(self) -> list[Rule]:
        """EventBridge rules that stacks created (a pipeline's change detection), as bus rules."""
        from moto.codepipeline.models import codepipeline_backends
        from moto.events.models import events_backends

        from sandbox.moto_ext import state_lock

        rules = []
        with state_lock:  # stacks create and delete rules on other threads
            listed = list(events_backends[ACCOUNT][REGION].event_buses["default"].rules.values())
        for rule in listed:
            if rule.state != "ENABLED" or not rule.event_pattern.get_pattern():
                continue
            for target in rule.targets:
                if ":codepipeline:" not in target["Arn"]:
                    continue
                role = str(target.get("RoleArn") or "")
                pattern = json.dumps(rule.event_pattern.get_pattern(), sort_keys=True)
                key = (rule.name, target["Arn"], pattern, role)
                if key not in self._pipeline_rules:
                    arn = str(target["Arn"])
                    trigger = {"triggerType": "CloudWatchEvent", "triggerDetail": rule.arn}

                    def start(
                        _: Event, arn: str = arn, trigger: dict[str, str] = trigger, role: str = role
                    ) -> None:
                        # EventBridge calls StartPipelineExecution as the target's role; a call the role
                        # may not make is a failed invocation, and the pipeline does not start.
                        if role and self.roles.denial(self.roles.rule_session(role), START_PIPELINE, arn):
                            return
                        codepipeline_backends[ACCOUNT][REGION].start_pipeline_execution(
                            arn.rsplit(":", 1)[1], None, trigger=trigger
                        )

                    self._pipeline_rules[key] = Rule(rule.name, rule.event_pattern.get_pattern(), start)
                rules.append(self._pipeline_rules[key])
        return rules

    def push(self, repository: str, message: str, branch: str = "main", path: str = "CHANGELOG") -> str:
        """Commit a file to the branch with the right parent, as a developer's push would; the commit id."""
        codecommit = self.client("codecommit")
        try:
            parent = {
                "parentCommitId": codecommit.get_branch(repositoryName=repository, branchName=branch)[
                    "branch"
                ]["commitId"]
            }
        except codecommit.exceptions.ClientError:
            parent = {}
        result = codecommit.put_file(
            repositoryName=repository,
            branchName=branch,
            fileContent=message.encode(),
            filePath=path,
            commitMessage=message,
            **parent,
        )
        return str(result["commitId"])

    def execution_keys(self, pipeline: str, execution_id: str) -> set[str]:
        """The artifact keys an execution's actions read and wrote (from ListActionExecutions)."""
        pages = (
            self.client("codepipeline")
            .get_paginator("list_action_executions")
            .paginate(pipelineName=pipeline, filter={"pipelineExecutionId": execution_id})
        )
        details = [d for page in pages for d in page["actionExecutionDetails"]]
        return {
            a["s3location"]["key"]
            for d in details
            for a in d["input"]["inputArtifacts"] + d["output"]["outputArtifacts"]
            if a.get("s3location")
        }

    def wait_for_execution(
        self, pipeline: str, execution_id: str | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Block until the execution (the latest, if none given) has ended; return GetPipelineExecution's."""
        client = self.client("codepipeline")
        deadline = time.monotonic() + timeout
        while True:
            self.wait_idle(timeout)
            if execution_id is None:
                runs = client.list_pipeline_executions(pipelineName=pipeline, maxResults=1)[
                    "pipelineExecutionSummaries"
                ]
                found = runs[0]["pipelineExecutionId"] if runs else None
            else:
                found = execution_id
            if found:
                execution = client.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=found)[
                    "pipelineExecution"
                ]
                if execution["status"] not in ("InProgress", "Stopping"):
                    return execution  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution of {pipeline} still running after {timeout} s")
            time.sleep(0.1)

    def run_schedules(self, function_name: str | None = None) -> None:
        """Queue a `Scheduled Event` for every scheduled function (or the one named), as EventBridge would."""
        for function, _ in self.schedules:
            if function_name is not None and function.name != function_name:
                continue
            event = publish.envelope(
                "aws.events",
                "Scheduled Event",
                {},
                ACCOUNT,
                REGION,
                [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/pipewarden-{function.name}-schedule"],
            )
            self.bus.send(event, function.invoke, f"{function.name}-schedule", destination=function.arn)

    def evaluate_alarms(self) -> list[Event]:
        """Evaluate the queue-depth alarms now (as CloudWatch does at the end of each period): the
        `CloudWatch Alarm State Change` events sent, already on the bus."""
        return self.alarms.evaluate()

    def _evaluate_alarms_every(self) -> None:
        assert self.alarm_every is not None
        while not self._stopping.wait(self.alarm_every):
            with contextlib.suppress(Exception):  # the server is going away with the sandbox
                self.evaluate_alarms()

    def _schedule_resync(self) -> None:
        def tick() -> None:
            try:
                self.run_schedules()
            finally:
                self._schedule_resync()

        assert self.resync_every is not None
        self._timer = threading.Timer(self.resync_every, tick)
        self._timer.daemon = True
        self._timer.start()


@dataclass
class ServiceFaults(Faults):
    """The controller's faults, with the keys AWS's services act with in the sandbox (`exempt`) left alone.

    Injected faults stand for AWS failing the controller's calls; CodePipeline and CodeBuild retry their
    own calls inside AWS, where no customer sees it.
    """

    exempt: set[str] = field(default_factory=set)

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """The app behind, with faults for every key but the exempt ones."""
        faulty = super().wrap(app)

        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if self.exempt and signing_key(environ) in self.exempt:
                return app(environ, start_response)
            return faulty(environ, start_response)

        return wsgi


class SignedAs:
    """A client whose calls are signed with the given credentials, whoever else shares the client."""

    def __init__(self, client: Any, signing: ReadOnlyCredentials) -> None:
        self._client = client
        self._signing = signing

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name.startswith("_") or not callable(found) or name in ("exceptions", "meta"):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            with credentials.acting_as(self._signing):
                return found(*args, **kwargs)

        return call


def signing_key(environ: Mapping[str, Any]) -> str:
    """The access key a SigV4-signed request names in its Authorization header ("" if none)."""
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    return auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""


class ServiceRoles:
    """The roles AWS's services act with in the sandbox, assumed through moto's STS as the services do.

    CodePipeline assumes a pipeline's role (session named by the epoch milliseconds of the assumption,
    e.g. assumed-role/<role>/1660759156951 in https://github.com/awslabs/cdk-eks-blueprints/issues/483)
    and keeps it; CodeBuild assumes a project's service role once per build, as AWSCodeBuild-<build
    uuid> (https://github.com/aws/aws-cdk/issues/28522); EventBridge assumes a rule target's role.
    Calls are made over HTTP with `client` (the IAM middleware decides); `denial` decides a permission
    without an API call in process, with the resource's tags in the context, as AWS would.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._kept: dict[str, RoleSession] = {}
        self._lock = threading.Lock()

    def session(self, role_arn: str, session_name: str, keep: bool = False) -> RoleSession:
        """A session of the role named `session_name`; with `keep`, the role's first session is reused."""
        with self._lock:
            if keep and role_arn in self._kept:
                return self._kept[role_arn]
        from moto.sts.models import sts_backends

        assumed = sts_backends[ACCOUNT]["aws"].assume_role(
            region_name=REGION,
            role_session_name=session_name,
            role_arn=role_arn,
            policy="",
            duration=3600,
            external_id="",
        )
        found = RoleSession(
            role_arn,
            str(assumed.arn),
            ReadOnlyCredentials(assumed.access_key_id, assumed.secret_access_key, assumed.session_token),
        )
        faults = self._sandbox.faults if self._sandbox._server is not None else None
        if isinstance(faults, ServiceFaults):
            faults.exempt.add(str(found.credentials.access_key))
        if keep:
            with self._lock:
                found = self._kept.setdefault(role_arn, found)
        return found

    def rule_session(self, role_arn: str) -> RoleSession:
        """The session EventBridge invokes a rule's targets with (kept per role)."""
        return self.session(role_arn, uuid.uuid4().hex, keep=True)

    def client(self, service: str, session: RoleSession) -> Any:
        """A sandbox client that signs with the session's credentials."""
        return self._sandbox.client_with(service, session.credentials)

    def denial(
        self, session: RoleSession, action: str, resource: str = "*", extra: Mapping[str, str] | None = None
    ) -> str:
        """AWS's AccessDenied message if the session may not do `action` on `resource` (with the request's
        `extra` context keys, e.g. iam:PassedToService), else ""."""
        enforcer = self._sandbox._server.iam
        if not enforcer.enabled:
            return ""
        context: dict[str, str] = {}
        kind = resource_type_of(resource) if resource != "*" else None
        if kind is not None:
            tags = MotoState(ACCOUNT, REGION).tags(resource)
            context = {f"{prefix}{k}": v for k, v in tags.items() for prefix in kind.resource_tag_keys()}
        context.update(extra or {})
        decision = enforcer.authorize(session.credentials.access_key, action, resource, context, REGION)
        if decision is None or decision.allowed:
            return ""
        return str(decision.message(Request(session.arn, action, resource, context)))


def policy_text(document: Any) -> str:
    """A policy document from a template as IAM's API takes it (templates give objects or JSON text)."""
    return document if isinstance(document, str) else json.dumps(document)


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
