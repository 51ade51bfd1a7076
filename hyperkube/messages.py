"""Every line the dispatcher says to a user, defined once so that tests can assert them.

Exit codes follow argparse and POSIX shells: 0 success (and a clean stop on SIGTERM or
SIGINT), 1 a server or command failed, 2 a usage error, 127 a link whose name is no server.
"""

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 127

NO_SERVER = "no server specified"
UNKNOWN_SERVER = 'unknown server "{name}"'
DID_YOU_MEAN = 'did you mean "{name}"?'
RUN_HELP = 'run "{prog} --help" for the list of servers'
UNKNOWN_OPTION = 'unknown option "{option}"'
SERVER_NOT_FOUND = "{name}: server not found"
AVAILABLE_SERVERS = "available servers: {names}"
BAD_COMPLETION_SHELL = 'unknown shell "{shell}" (choose from {choices})'
MISSING_ARGUMENT = "{option} needs {what}"
NO_SERVERS_YET = "(none yet)"

SERVER_ERROR = "{prog} {server}: error: {error}"
PROG_ERROR = "{prog}: {error}"
PROG_WARNING = "{prog}: warning: {warning}"

VERSION_LINE = ("{prog} {version} (commit {commit}, built {date}, python {python}, "
                "{speedups})")
SPEEDUPS_ON = "speedups on: {tag}"
SPEEDUPS_PORTABLE = "speedups off: pure Python (portable build)"
SPEEDUPS_MISSING = "speedups off: pure Python (this build has them for {tags})"
SPEEDUPS_INSTALLED = "speedups as installed"  # run from a source tree
PYTHON_TOO_OLD = "error: python {python} is too old (CPython {floor} or newer needed)"
NO_SPEEDUPS = ("this build carries no compiled speedups for python {python} (only for {tags}): "
               "running pure Python, slower")

LINK_CREATED = "created {path} -> {target}"
LINK_KEPT = "kept {path} -> {target}"
LINK_REPLACED = "replaced {path} -> {target}"
LINK_LEFT = "left {path} alone: {why} (use --force to replace it)"
LINK_FAILED = "could not link {path}: {error}"
LINKS_LEFT = "{count} link(s) were not made"

CACHE_UNUSABLE = "cache directory {path} is not usable ({error}); using {fallback}"
CACHE_LOCK_TIMEOUT = "timed out after {seconds:.0f}s waiting for the cache lock {path}"
NO_SHTAB = "shell completion needs the shtab package, which this build does not carry"

# Groups of servers: in one process (together.py) and as child processes (supervisor.py).
GROUP_UNKNOWN_SERVER = 'unknown server "{name}" in the table'
GROUP_SERVER_TWICE = 'server "{name}" is in the table twice'
GROUP_BAD_FLAGS = "flags of {server}: {error}"
BAD_SIZE = 'bad size "{value}" (a number of bytes, with an optional Ki, Mi, Gi, K, M or G)'
BAD_DURATION = 'bad duration "{value}" (a number with a unit: 90s, 30m, 168h, 1h30m)'
