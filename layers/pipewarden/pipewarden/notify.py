"""The notify flow: event -> whose pipeline -> worth a message? -> what AWS knows -> SNS and Slack."""

from __future__ import annotations

from dataclasses import dataclass

from pipewarden import alarms, emit, notify_rules, prune, retry_policy
from pipewarden.aws import AwsError, Clients
from pipewarden.config import NotifyConfig
from pipewarden.deliver import Deliverer, Delivery
from pipewarden.enrich import Enricher
from pipewarden.messages import Notice
from pipewarden.notify_rules import FAILURES, PIPELINE_EXECUTION, Audience, Facts, Happening
from pipewarden.standing import StandingProblems

_ENROLLMENT_KINDS = {emit.ENROLLED, emit.UNENROLLED, emit.ENROLLMENT_FAILED, emit.ENROLLMENT_REJECTED}
# Events that are about one execution: the message tells its commit, failing action and logs.
_EXECUTION_KINDS = {
    PIPELINE_EXECUTION,
    retry_policy.SCHEDULED,
    retry_policy.EXHAUSTED,
    retry_policy.NOT_RETRIED,
    retry_policy.SKIPPED,
}


@dataclass(frozen=True)
class Outcome:
    """What the notifier did with one event, and why (what the handler logs and returns)."""

    status: str
    reason: str
    notice: Notice | None = None
    delivery: Delivery | None = None

    def summary(self) -> dict[str, str]:
        out = {"status": self.status, "reason": self.reason}
        if self.notice is not None:
            out["title"] = self.notice.title
        if self.delivery is not None:
            out.update(sns=self.delivery.sns, slack=self.delivery.slack)
        return out


@dataclass
class Notifier:
    """Decides and tells. `deliverer` is needed to tell only: screening an event works without it (so
    the Slack secret's provider is not built for the events nobody hears, most of them)."""

    config: NotifyConfig
    clients: Clients
    deliverer: Deliverer | None = None

    def report(self, happening: Happening) -> Outcome:
        repository = happening.text("repository")
        problems = StandingProblems(self.clients, self.config.idempotency_table)
        if repository and happening.kind in (emit.ENROLLED, emit.UNENROLLED):
            problems.forget(repository)  # the problem is over: if it comes back, it is news again
        if not notify_rules.problem(happening.detail, happening.kind) or not repository:
            return self._report(happening)
        problem = notify_rules.standing(happening.detail, happening.kind)
        if not problem:
            # A tag change showed it: news. Remembered, so the resyncs that meet it again stay quiet.
            outcome = self._report(happening)
            if outcome.delivery is not None:
                problems.remember(repository, str(happening.detail["fingerprint"]))
            return outcome
        if not problems.claim(repository, problem):
            return Outcome("duplicate", "told already: the repository's problem has not changed since")
        try:
            outcome = self._report(happening)
        except Exception:
            problems.release(repository, problem)
            raise
        if outcome.delivery is None:
            problems.release(repository, problem)  # nothing was told (notify is off, or nobody listens)
        return outcome

    def screen(self, happening: Happening) -> Outcome | None:
        """'ignored' when no message can come of this event whatever its execution's story (then no
        idempotency record is written for it); None when it may be worth one.

        Enrollment outcomes always pass: telling them also settles what is remembered about a
        repository's standing problem.
        """
        if happening.kind in _ENROLLMENT_KINDS:
            return None
        if happening.kind == alarms.RESYNC_COMPLETED:
            return Outcome("ignored", "a resync's heartbeat: the resync alarm counts its rule's invocations")
        if happening.kind == alarms.STATE_CHANGE and not notify_rules.alarm_change(happening).worth_telling():
            return Outcome(
                "ignored", "an alarm's state change that is nobody's news (not ALARM, not resolved)"
            )
        enricher = Enricher(self.clients, happening.region)
        heard = self._listener(happening, enricher)
        if isinstance(heard, Outcome):
            return heard
        if heard.hears(notify_rules.importance(happening, heard, retries=0)):
            return None
        # Worth a message only if the execution was retried (a recovery): one read says whether.
        try:
            retried = enricher.retries(happening.pipeline, happening.execution_id)
        except AwsError as error:
            if error.transient:
                raise
            return None  # unreadable: the full report decides, with what it can read
        return None if retried else Outcome("ignored", f"nothing to tell at notify={heard.level}")

    def _listener(self, happening: Happening, enricher: Enricher) -> Audience | Outcome:
        """Who may hear this event, or why nobody will."""
        audience = self.audience(happening, enricher)
        if audience is None:
            return Outcome("ignored", "the pipeline did not opt in to pipewarden")
        # The most an execution can matter (a recovery) decides whether it is worth reading.
        if not audience.hears(notify_rules.importance(happening, audience, retries=1)):
            return Outcome("ignored", f"nothing to tell at notify={audience.level}")
        return audience

    def _report(self, happening: Happening) -> Outcome:
        enricher = Enricher(self.clients, happening.region)
        audience = self._listener(happening, enricher)
        if isinstance(audience, Outcome):
            return audience
        quiet = Outcome("ignored", f"nothing to tell at notify={audience.level}")
        facts = Facts()
        if happening.kind in _EXECUTION_KINDS and happening.execution_id and happening.pipeline:
            succeeded = happening.text("state") == "SUCCEEDED"  # a green run's build log is not news
            facts = enricher.facts(
                happening.pipeline, happening.execution_id, happening.text("stage"), with_log=not succeeded
            )
        if not audience.hears(notify_rules.importance(happening, audience, facts.retries)):
            return quiet
        notice = notify_rules.compose(happening, facts)
        if self.deliverer is None:
            raise TypeError("a Notifier without a Deliverer can screen events, not tell them")
        delivery = self.deliverer.send(notice, audience.slack_channel)
        return Outcome("sent", f"notify is {audience.level}", notice, delivery)

    def audience(self, happening: Happening, enricher: Enricher) -> Audience | None:
        """The event's own notify settings, else its pipeline's tags, else its repository's tags."""
        prefix = self.config.tag_prefix
        found = notify_rules.audience_from_detail(happening.detail)
        if found is not None:
            return found
        if happening.pipeline:
            pipeline = enricher.pipeline(happening.pipeline)
            if pipeline is not None:
                return notify_rules.audience(pipeline[1], prefix)
        repository = happening.text("repository")
        if repository:
            tags = enricher.repository_tags(repository)
            if tags is not None and (found := notify_rules.audience(tags, prefix)) is not None:
                return found
        if happening.kind in (emit.ENROLLMENT_REJECTED, emit.ENROLLMENT_FAILED):
            return Audience(FAILURES)  # the repository asked to be enrolled: its owners want to know
        if happening.kind == prune.PRUNED and not happening.pipeline:
            return Audience(FAILURES)  # a whole-bucket run: the platform team's default channel
        if happening.kind == alarms.STATE_CHANGE:
            return Audience(FAILURES)  # pipewarden's own alarm: the platform team's default channel
        return None
