"""The chaos checker judges by the documents and the workload, never by the code it checks.

`sandbox/invariants.py` and its oracle (`sandbox/oracle.py`) may not import `pipewarden` or
`functions`; the oracle's rules follow the README's tag contract and naming (cited there by line),
and the checker names a controller that did the wrong thing even where the product would agree with
itself.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox import invariants, oracle
from sandbox.oracle import Expected, Target, Verdict
from tests.conftest import ROOT, World

CHECKER = ("sandbox.invariants",)
FORBIDDEN = ("pipewarden", "functions")


# -- the checker imports nothing it checks ----------------------------------------------------------
def _runtime_imports(source: str, package: str = "sandbox") -> set[str]:
    """The modules a module imports when it runs (imports under `if TYPE_CHECKING:` are types only)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{package}.{base}".rstrip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def _closure(roots: tuple[str, ...]) -> dict[str, set[str]]:
    """Each `sandbox` module the roots run, transitively, with the modules it imports."""
    seen: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        path = ROOT / Path(*module.split("."))
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if module in seen or not file.exists():
            continue
        seen[module] = _runtime_imports(file.read_text(), module.rpartition(".")[0])
        todo.extend(m for m in seen[module] if m.split(".")[0] == "sandbox")
    return seen


def _forbidden(imports: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports.items()
        for name in names
        if name.split(".")[0] in FORBIDDEN
    )


def test_the_checker_and_its_oracle_import_no_product_code() -> None:
    imports = _closure(CHECKER)
    assert {"sandbox.invariants", "sandbox.oracle"} <= set(imports)  # the scan reached the oracle
    assert _forbidden(imports) == []


def test_the_import_scan_sees_imports_anywhere_but_type_checking_blocks() -> None:
    source = """
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from pipewarden.contract import PipelineSettings
def late():
    from pipewarden.reconcile import desired_state
import functions.notify.app
"""
    found = _forbidden({"m": _runtime_imports(source)})
    assert found == [
        "m imports functions.notify.app",
        "m imports pipewarden.reconcile",
        "m imports pipewarden.reconcile.desired_state",
    ]


# -- the oracle follows the README ------------------------------------------------------------------
OWNED = Target(
    exists=True, owner="shop", role_paths=("/pipewarden-tasks/shop/", "/pipewarden-tasks/@shared/")
)


def _expect(tags: dict[str, str], target: Target = OWNED, allowed: tuple[str, ...] = ("apps-*",)) -> Expected:
    return oracle.expect("shop", tags, lambda cluster, service: target, allowed)


def _tags(**extra: str) -> dict[str, str]:
    tags = {
        "pipewarden:enabled": "true",
        "pipewarden:ecs-cluster": "apps-prod",
        "pipewarden:ecs-service": "web",
    }
    return tags | {f"pipewarden:{k.replace('_', '-')}": v for k, v in extra.items()}


def test_valid_tags_enroll_with_the_contracts_defaults() -> None:
    expected = _expect(_tags(retry="off"))
    assert expected.verdict is Verdict.ENROLLED and expected.settings is not None
    assert {k: expected.settings[k] for k in ("container", "ecr-repository", "branch", "compute")} == {
        "container": "shop",
        "ecr-repository": "shop",
        "branch": "main",
        "compute": "small",
    }
    assert (expected.settings["notify"], expected.settings["keep-executions"]) == ("failures", "10")
    assert expected.retry_cap == 0  # retries off: no retry at any cap
    assert _expect(_tags(max_retries="5")).retry_cap == 5


@pytest.mark.parametrize(
    ("tags", "verdict"),
    [
        ({"pipewarden:ecs-cluster": "apps-prod"}, Verdict.UNENROLLED),
        (_tags(enabled="yes"), Verdict.UNENROLLED),
        (_tags(compute="huge"), Verdict.REJECTED),
        (_tags(max_retries="6"), Verdict.REJECTED),
        (_tags(keep_executions="0"), Verdict.REJECTED),
        (_tags(notify="loud"), Verdict.REJECTED),
        (_tags(slack_channel="Payments"), Verdict.REJECTED),
        (_tags(branch="a..b"), Verdict.REJECTED),
        (_tags(ecs_cluster="prod"), Verdict.REJECTED),  # off the allow-list
        (_tags(compute=""), Verdict.UNDETERMINED),  # the README neither allows nor rejects it
    ],
)
def test_each_documented_rule_decides(tags: dict[str, str], verdict: Verdict) -> None:
    assert _expect(tags).verdict is verdict


def test_a_service_takes_only_the_repository_it_names_from_roles_under_its_path() -> None:
    assert _expect(_tags(), Target(exists=True, owner="other")).verdict is Verdict.REJECTED
    stray = Target(exists=True, owner="shop", role_paths=("/",))
    assert _expect(_tags(), stray).verdict is Verdict.REJECTED
    assert _expect(_tags(), Target(exists=False)).verdict is Verdict.ENROLLED  # a warning, not a rejection
    assert oracle.role_path("arn:aws:iam::123456789012:role/pipewarden-tasks/shop/web-task") == (
        "/pipewarden-tasks/shop/"
    )


def test_the_allow_list_matches_as_the_readme_says() -> None:
    entries = oracle.allow_list(" apps-*, shared/web-?")
    assert oracle.allowed(entries, "apps-prod", "anything")
    assert oracle.allowed(entries, "shared", "web-1")
    assert not oracle.allowed(entries, "shared", "web-10")
    assert not oracle.allowed(entries, "apps", "web")
    assert not oracle.allowed((), "apps", "web")  # empty: nothing


def test_a_rejected_change_keeps_what_stood_and_an_unenrollment_removes_it() -> None:
    good, bad, off = _expect(_tags()), _expect(_tags(compute="huge")), _expect({})
    assert oracle.settled([good, bad]) == good
    assert oracle.settled([bad]).verdict is Verdict.REJECTED
    assert oracle.settled([good, off, bad]).verdict is Verdict.REJECTED
    assert oracle.settled([good, _expect(_tags(compute=""))]).verdict is Verdict.UNDETERMINED


def test_pipeline_names_follow_the_readme() -> None:
    assert oracle.is_pipeline_of("shop", "pipewarden-shop")  # shorter than 20: its own name
    assert not oracle.is_pipeline_of("shop", "pipewarden-abcdefgh-shop")
    assert oracle.is_pipeline_of("chaos-000", "pipewarden-abcd2345-chaos-000")  # 20: an id
    assert not oracle.is_pipeline_of("chaos-000", "pipewarden-chaos-000")
    assert not oracle.is_pipeline_of("chaos-000", "pipewarden-abcd2345-chaos-0001")
    assert not oracle.is_pipeline_of("haos-000", "pipewarden-abcd2345-chaos-000")
    long = "r" * 89
    assert oracle.is_pipeline_of(long, f"pipewarden-abcd2345-{long}"[:100])
    with pytest.raises(ValueError):
        oracle.stack_name("my.repo")  # the README does not say: no guess


# -- the checker names what the controller did wrong -------------------------------------------------
def _about(found: list[str], *names: str) -> list[str]:
    """The violations that name these repositories or pipelines (the sandbox is shared by tests)."""
    return [f for f in found if any(name in f for name in names)]


def _enrolled(world: World, base: str, **extra: str) -> tuple[str, dict[str, str], str]:
    """A repository enrolled for its own service; its name, tags and pipeline."""
    repo = world.name(base)
    world.service(owner=repo, service=f"{base}-web")
    _, arn = world.repository(base)
    tags = world.enroll_tags(service=f"{base}-web", **extra)
    world.tag(arn, tags)
    names = {p["name"] for p in world.sandbox.client("codepipeline").list_pipelines()["pipelines"]}
    pipelines = oracle.pipeline_of(repo, names)
    assert len(pipelines) == 1, names
    return repo, tags, pipelines[0]


@pytest.mark.integration
def test_a_pipeline_for_invalid_tags_and_a_missing_one_for_valid_tags_are_named(world: World) -> None:
    # Given a repository the controller enrolled, and one it never heard of
    repo, tags, _ = _enrolled(world, "chaos-orc")
    sandbox = world.sandbox
    assert _about(invariants.check(sandbox, {repo: tags}, iam=False), repo) == []
    stray = world.name("chaos-never")
    world.repository("chaos-never")
    invalid = dict(tags, **{"pipewarden:compute": "huge"})
    # When the tags the workload set say otherwise
    found = invariants.check(sandbox, {repo: invalid, stray: world.enroll_tags()}, iam=False)
    # Then a pipeline kept for invalid tags, and one missing for valid tags, are violations
    assert any(f.startswith(f"{repo}: not enrolled (pipewarden:compute='huge'") for f in found), found
    assert f"{stray}: enrolled but has no stack" in found
    # ...unless the invalid tags came after valid ones: a rejected change keeps the pipeline
    assert _about(invariants.check(sandbox, {repo: invalid}, iam=False, history={repo: [tags]}), repo) == []


@pytest.mark.integration
def test_resources_that_differ_from_the_tags_are_named_from_awss_record(world: World) -> None:
    repo, tags, pipeline = _enrolled(world, "chaos-res", notify="all")
    sandbox = world.sandbox
    codepipeline = sandbox.client("codepipeline")
    arn = codepipeline.get_pipeline(name=pipeline)["metadata"]["pipelineArn"]
    assert _about(invariants.check(sandbox, {repo: tags}, iam=False), repo, pipeline) == []
    # The workload asked for another branch and compute than the stack's resources hold
    asked = dict(tags, **{"pipewarden:branch": "develop", "pipewarden:compute": "large"})
    assert f"{repo}: stack's resources differ from the tags: branch, compute" in invariants.check(
        sandbox, {repo: asked}, iam=False
    )
    # The pipeline's copied settings no longer say what the repository's tags say
    codepipeline.tag_resource(resourceArn=arn, tags=[{"key": "pipewarden:retry", "value": "off"}])
    try:
        found = invariants.check(sandbox, {repo: tags}, iam=False)
        assert f"{repo}: stack's resources differ from the tags: retry" in found
    finally:
        codepipeline.tag_resource(resourceArn=arn, tags=[{"key": "pipewarden:retry", "value": "transient"}])


@pytest.mark.integration
def test_a_decision_never_told_or_told_twice_is_named(world: World) -> None:
    from sandbox.executions import Outcome

    repo, tags, pipeline = _enrolled(world, "chaos-told", notify="failures")
    sandbox = world.sandbox
    sandbox.simulator.scripts.add(pipeline, "Build", [Outcome(log=["FAIL a.test.js"])])
    world.push(repo, "breaks a test")
    world.eventually(lambda: world.pipeline_events(pipeline, "Failure Not Retried"))
    sandbox.wait_idle(30)
    assert _about(invariants.check(sandbox, {repo: tags}, iam=False), repo, pipeline) == []
    # A decision pipewarden emitted that no message tells (another execution's)
    decided = next(
        e for e in sandbox.pipewarden_events("Failure Not Retried") if e["detail"]["pipeline"] == pipeline
    )
    untold = copy.deepcopy(decided)
    untold["detail"]["execution-id"] = "0" * 8 + decided["detail"]["execution-id"][8:]
    sandbox.events.append(untold)
    try:
        found = invariants.check(sandbox, {repo: tags}, iam=False)
        assert f"never told: Failure Not Retried {pipeline} 00000000" in found
        # A level of `off` hears nothing: nothing missing
        quiet = dict(tags, **{"pipewarden:notify": "off"})
        assert not any(
            f.startswith("never told") for f in invariants.check(sandbox, {repo: quiet}, iam=False)
        )
    finally:
        sandbox.events.remove(untold)
    # The same decision told again under another key (a second telling the key would not catch)
    told = next(
        json.loads(m["Message"])
        for m in sandbox.sns_messages()
        if json.loads(m["Message"]).get("pipeline") == pipeline
        and json.loads(m["Message"]).get("event") == "Failure Not Retried"
    )
    sandbox.client("sns").publish(
        TopicArn=sandbox.outputs["NotificationTopicArn"],
        Message=json.dumps(dict(told, key="other")),
        Subject="s",
    )
    try:
        found = invariants.check(sandbox, {repo: tags}, iam=False)
        assert any(f.startswith(f"decision told 2 times: Failure Not Retried {pipeline}") for f in found), (
            found
        )
    finally:  # the sandbox is shared: later checks must not see this telling
        sandbox._sns_received[:] = [
            m for m in sandbox.sns_messages() if json.loads(m["Message"]).get("key") != "other"
        ]


# -- where the product and the documents meet -------------------------------------------------------
@given(st.from_regex(r"[A-Za-z0-9-]{1,89}", fullmatch=True))
def test_the_products_names_are_the_ones_the_readme_gives(repository: str) -> None:
    from pipewarden import naming

    assert naming.stack_name(repository) == oracle.stack_name(repository)
    assert oracle.is_pipeline_of(repository, naming.pipeline_name(repository))


@pytest.mark.parametrize(
    ("value", "enrolls"), [("true", True), ("True", True), (" TRUE ", True), ("yes", False)]
)
def test_the_product_enrolls_on_the_values_the_readme_says(value: str, enrolls: bool) -> None:
    """README "The tag contract (v1)": `true` in any case, spaces around it ignored; any other value unenrolls."""
    from pipewarden.contract import is_enabled

    expected = Verdict.ENROLLED if enrolls else Verdict.UNENROLLED
    assert _expect(_tags(enabled=value)).verdict is expected  # the oracle: by the README
    assert is_enabled({"pipewarden:enabled": value}, "pipewarden") is enrolls
