"""What a failure's own words say about a retry: named causes, each transient, deterministic or unknown.

A cause is a family of messages that tools and AWS print for one kind of trouble, written from
their documentation and public failure reports (the corpus in tests/data/failures cites them),
never from one report's exact string. Three strengths of deterministic cause:

- ROOT: the failure itself (a failing test, a compile error, access denied, an invalid
  configuration). It decides, whatever else the log says.
- CONSEQUENCE: something was not found or refused (a 404, "no matching distribution", a 403). A
  network failure or a rate limit prints these too, so a transient cause in the same text wins.
- A transient cause (rate limit, 5xx, reset, timeout, temporary DNS failure, capacity) decides
  when no ROOT cause is present.
- UNKNOWN causes (killed, out of memory, a health check, a timed-out build) say the evidence
  cannot tell; they decide only when nothing else does.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

TRANSIENT = "transient"
DETERMINISTIC = "deterministic"
UNKNOWN = "unknown"
ROOT, CONSEQUENCE, PLAIN = "root", "consequence", "plain"

DOCKER_HUB_RATE_LIMIT = "docker-hub-rate-limit"


@dataclass(frozen=True)
class Cause:
    name: str
    kind: str
    source: str
    strength: str = PLAIN

    @property
    def pattern(self) -> re.Pattern[str]:
        """Compiled on first use: a cold start that classifies nothing (a due retry) pays nothing."""
        return _compiled(self.source)


@functools.cache
def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE)


def _causes(kind: str, strength: str, *table: tuple[str, str]) -> tuple[Cause, ...]:
    return tuple(Cause(name, kind, pattern, strength) for name, pattern in table)


_HTTP_5XX = r"(?:50[0-4]|52[0-9])"

DETERMINISTIC_ROOT = _causes(
    DETERMINISTIC,
    ROOT,
    (
        "test-failure",
        r"\b\d+ (?:tests? )?failed\b|\btests? failed\b|(?-i:^\s*FAIL(?:ED)?\b)|\bFAILED \S+::|AssertionError|"
        r"\bassert(?:ion)? .*(?:==|!=| failed)|Test Suites: \d+ failed|There (?:was|were) \d+ failures?|"
        r"Tests run: \d+, Failures: [1-9]|Failures: [1-9]\d*|\d+ examples?, [1-9]\d* failures?|"
        r"surefire-reports|failing tests?|test(?:s)? (?:run )?failed|Test failed\.|^\s*\d+ failing\b",
    ),
    (
        "compile-error",
        r"compilation (?:failure|error)|cannot find symbol|error TS\d{3,}|error\[E\d{4}\]|"
        r"could not compile|undefined reference to|SyntaxError|syntax error|ParseError|"
        r"unexpected token|\bNameError\b|ModuleNotFoundError|ImportError|cannot find module|"
        r"Cannot find name|is not defined|error: .* expected|has no attribute|TypeError:|"
        # a compiler's or linter's diagnostic: path:line[:col]: error / E123 / F401
        r"^\S+\.\w{1,6}:\d+(?::\d+)?:?\s*(?:error\b|[EF]\d{3})|"
        r"^(?:KeyError|IndexError|AttributeError|ValueError|ZeroDivisionError|UnboundLocalError)\b",
    ),
    (
        "access-denied",
        r"access ?denied|AccessDenied|not authori[sz]ed|UnauthorizedOperation|AuthorizationError|"
        r"permission denied|insufficient permissions|doesn.t have the permissions|"
        r"no basic auth credentials|\bdenied: |authentication required|could not read Username|"
        r"invalid (?:username|password|credentials)|\b401\b|Unauthorized|unable to assume the role|"
        r"AssumeRole|is not authorized for the KMS|EncryptionKey(?:AccessDenied|Disabled|NotFound)|"
        r"Could not access the CodeCommit repository|InvalidSignature|SignatureDoesNotMatch|"
        r"UnrecognizedClientException|InvalidClientTokenId|security token included in the request is invalid",
    ),
    (
        "invalid-configuration",
        r"invalid reference format|YAML_FILE_ERROR|invalid buildspec|"
        r"buildspec.* (?:does not exist|not found)|"
        r"YAML file does not exist|InvalidInput|Invalid input|ValidationError|InvalidParameter|"
        r"ConfigurationError|invalid (?:JSON|value|argument|configuration|option|parameter)|"
        r"contents invalid JSON|does not contain a container|CannotFindContainer|ClusterNotFound|"
        r"Cluster not found|\bis MISSING\b|no branch named|does not exist in the|"
        r"BranchDoesNotExist|RepositoryDoesNotExist|InvalidBranchName|"
        r"no matching artifact paths found|unknown (?:flag|option|instruction|shorthand flag)|"
        r"Dockerfile parse error|unable to prepare context|failed to compute cache key|COPY failed|"
        r"executable file not found|exec format error|command not found|(?:sh|bash|line \d+): .*: not found$|"
        r"no such file or directory|Cannot connect to the Docker daemon|PrivilegedMode has to be set|"
        r"already exists in the .* repository and cannot be overwritten|tag invalid|"
        r"Cannot have more than 0 builds|limit on the number of tasks|no container instance met|"
        r"No Container Instances were found|port .* (?:already )?in use|memory limit too low|"
        r"log group does not exist|ParameterNotFound|Secrets Manager can.t find|"
        r"ResourceNotFoundException|invalid character|no matching manifest|unsupported media type|"
        r"does not contain descriptor matching platform|does not match the (?:specified|host) platform|"
        r"version solving failed|ERESOLVE|conflicting (?:dependencies|requirements)|"
        r"Could not find gem|checksum mismatch|unknown revision|"
        r"end of life|\bEOL\b|no longer (?:supported|available)|deprecated and removed|"
        r"NO_PUBKEY|missing signature key|GPG error|signatures? (?:couldn.t|could not) be verified|"
        r"^usage:|To see help text|invalid choice|unrecognized arguments|"
        r"CannotStartContainerError|OCI runtime (?:create|exec) failed|starting container process caused",
    ),
    (
        "disk-full",
        r"no space left on device|disk quota exceeded|not enough space",
    ),
    (
        # A task cannot reach ECR, Secrets Manager, SSM or CloudWatch Logs from its subnet: AWS's
        # troubleshooting points at routes, security groups and endpoints, which do not heal.
        "task-network-configuration",
        r"ResourceInitializationError|unable to pull secrets or registry auth|"
        r"failed to validate logger args|connection issue between the task|"
        r"dkr\.ecr\..*(?:request canceled|Client\.Timeout|i/o timeout|context deadline exceeded)",
    ),
)

DETERMINISTIC_CONSEQUENCE = _causes(
    DETERMINISTIC,
    CONSEQUENCE,
    (
        "not-found",
        r"manifest (?:for \S+ )?(?:unknown|not found)|not found: manifest|repository \S+ not found|"
        r"repository does not exist|pull access denied|tag \S+ not found|No such image|"
        r"An image does not exist locally|\b404\b|E404|not found in (?:the )?(?:registry|repository)|"
        r"was not found in|Could not find artifact|Unable to locate package|No matching distribution|"
        r"Could not find a version that satisfies|No package .* available|package .* not found|"
        r"Unable to find (?:package|version)|NU1101|unresolved dependency|"
        r"does not exist|not found\.?$|Not Found",
    ),
    ("forbidden", r"\b403\b|Forbidden"),
)

TRANSIENTS = _causes(
    TRANSIENT,
    PLAIN,
    (DOCKER_HUB_RATE_LIMIT, r"toomanyrequests|reached your pull rate limit"),
    (
        "throttling",
        # 429 and SlowDown only where an HTTP answer or AWS error says them (a line number or an
        # identifier is not a rate limit)
        r"(?:status|code|HTTP(?:/[\d.]+)?|error|response|got|received|returned)\W{0,3}429\b|\b429 Too Many|"
        r"too many requests|rate exceeded|rate limit (?:exceeded|reached)|\brate[- ]limited\b|"
        r"\bthrottl(?:ed|ing|e)\b|Throttl(?:ing|ed)Exception|RequestLimitExceeded|\(SlowDown\)|"
        r"SlowDown:|reduce your request rate|TooManyRequestsException|ProvisionedThroughputExceeded|"
        r"Cannot have more than [1-9]\d* builds",
    ),
    (
        "server-error",
        rf"(?:status|code|HTTP|error|response|returned|failed|got|received)\W{{0,3}}{_HTTP_5XX}\b|"
        rf"\b{_HTTP_5XX}\b:? (?:\w+ )?"
        r"(?:Internal|Bad|Service|Server|Gateway|between|unavailable|time-?out)|"
        r"bad gateway|service unavailable|gateway time-?out|internal server error|"
        r"InternalFailure|InternalServerError|ServiceUnavailable|ServerException|"
        r"internal service error|An internal error occurred",
    ),
    (
        "connection-reset",
        r"connection reset|ECONNRESET|EPIPE|broken pipe|unexpected EOF|: EOF\s*$|socket hang up|"
        r"connection (?:was )?(?:closed|aborted)|RemoteDisconnected|IncompleteRead|"
        r"closed connection without|SSL_ERROR_SYSCALL|ECONNABORTED|read: connection|"
        r"Could not reach any registry endpoint|Untar|stream error:.*(?:INTERNAL_ERROR|PROTOCOL_ERROR)|"
        r"GOAWAY|http2: server sent",
    ),
    (
        "timeout",
        r"i/o timeout|TLS handshake timeout|context deadline exceeded|ESOCKETTIMEDOUT|"
        r"read timed out|RequestTimeout|Client\.Timeout exceeded while awaiting headers|"
        r"Timeout waiting for network interface",
    ),
    (
        # The public registries every build leans on do not go away: a connection to one that
        # timed out is the path's blip, not a host that is gone (compare connect-timeout below).
        "registry-timeout",
        r"^(?=.*(?:docker\.io|docker\.com|npmjs\.(?:org|com)|yarnpkg\.com|maven\.apache\.org|maven\.org|"
        r"gradle\.org|pypi\.org|pythonhosted\.org|github\.com|githubusercontent\.com|golang\.org|"
        r"crates\.io|rubygems\.org|nuget\.org|packagist\.org|quay\.io|gcr\.io|ghcr\.io|"
        r"public\.ecr\.aws|debian\.org|ubuntu\.com|alpinelinux\.org|npm ERR! network|npm error network))"
        r"(?=.*(?:timeout|timed out|ETIMEDOUT))",
    ),
    (
        "dns",
        r"temporary failure in name resolution|Temporary failure resolving|EAI_AGAIN|"
        r"getaddrinfo.*(?:EAI_AGAIN|temporary)|name resolution failure",
    ),
    (
        "capacity",
        r"capacity is unavailable|insufficient (?:\w+ )?capacity|InsufficientInstanceCapacity|"
        r"not enough capacity|ENI .*limit",
    ),
)

UNKNOWNS = _causes(
    UNKNOWN,
    PLAIN,
    ("test-timeout", r"tests? timed out|test timeout|verification timed out|exceeded the timeout of"),
    (
        "killed",
        r"exit (?:status|code) 137|\bKilled\b|OutOfMemory|out of memory|\bOOM\b|OOM-killed|signal: killed|"
        r"Build container found dead",
    ),
    (
        "unhealthy",
        r"health checks?|is unhealthy|Essential container in task exited|circuit breaker|"
        r"steady state|servicesStable|ServicesStable|exceeded wait attempts|Task failed to start",
    ),
    ("expired-credentials", r"ExpiredToken|token (?:has )?expired|RequestExpired"),
    ("timed-out", r"\btimed out\b|\btimeout\b"),
    ("mirror-mismatch", r"Hash Sum mismatch|size mismatch|File has unexpected size"),
    ("unresolved-host", r"could not resolve host|no such host|ENOTFOUND|Name or service not known"),
    ("bare-internal-error", r"^\s*InternalError\s*$"),
    (
        # A connection that never opened: a host gone or a path closed (firewall, proxy, VPC) as
        # often as a blip. Once the connection is open, a timeout is transient (above).
        "connect-timeout",
        r"dial tcp.*(?:i/o timeout|timed out)|waiting for connection|connect(?:ion)? timed out|"
        r"connect ETIMEDOUT|ETIMEDOUT|Network is unreachable|No route to host|ENETUNREACH|EHOSTUNREACH|"
        r"Failed to establish a new connection",
    ),
    ("bare-eof", r"^\s*EOF\s*$"),
)

_FIRST = tuple(
    c for c in TRANSIENTS if c.name in (DOCKER_HUB_RATE_LIMIT, "throttling", "registry-timeout", "dns")
)
_EXPLAINING = tuple(c for c in UNKNOWNS if c.name in ("test-timeout", "killed", "connect-timeout"))
# The order in which one line is read: a rate limit is never configuration; a root cause is the
# failure itself; a line saying the process was killed, or never connected, says so whatever
# status it carries; then the rest.
CAUSES = (
    _FIRST
    + DETERMINISTIC_ROOT
    + _EXPLAINING
    + tuple(c for c in TRANSIENTS if c not in _FIRST)
    + DETERMINISTIC_CONSEQUENCE
    + tuple(c for c in UNKNOWNS if c not in _EXPLAINING)
)
