"""Every error text the scripting engine (and the commands on top of it) sends.

Texts are copied from Redis 7.0.15 (``eval.c``, ``script.c``, ``script_lua.c``,
``function_lua.c``, ``functions.c``) and checked against a real server. The
full message starts with its error code, exactly as it goes on the wire.
"""

from __future__ import annotations

# --- EVAL / EVALSHA / SCRIPT -------------------------------------------------
NOSCRIPT = "NOSCRIPT No matching script. Please use EVAL."
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
NUMKEYS_NEGATIVE = "ERR Number of keys can't be negative"
COMPILE_ERROR = "ERR Error compiling script (new function): {}"
INVALID_SHEBANG = "ERR Invalid script shebang"
INVALID_SHEBANG_ENGINE = "ERR Invalid engine in script shebang"
UNEXPECTED_SHEBANG_ENGINE = "ERR Unexpected engine in script shebang: {}"
UNEXPECTED_SHEBANG_FLAG = "ERR Unexpected flag in script shebang: {}"
UNKNOWN_SHEBANG_OPTION = "ERR Unknown lua shebang option: {}"
WRITE_SCRIPT_RO_COMMAND = "ERR Can not execute a script with write flag using *_ro command."
EVALSHA_DEBUG = "ERR Please use EVAL instead of EVALSHA for debugging"
SCRIPT_KILLED = "ERR Script killed by user with SCRIPT KILL..."
FUNCTION_LOAD_TIMEOUT = "ERR FUNCTION LOAD timeout"
STACK_LIMIT = "ERR reached lua stack limit"

# --- SCRIPT KILL / FUNCTION KILL / BUSY --------------------------------------
NOTBUSY = "NOTBUSY No scripts in execution right now."
UNKILLABLE_REPLICATION = (
    "UNKILLABLE The busy script was sent by a master instance in the context of "
    "replication and cannot be killed."
)
UNKILLABLE_WROTE = (
    "UNKILLABLE Sorry the script already executed write commands against the "
    "dataset. You can either wait the script termination or kill the server in a "
    "hard way using the SHUTDOWN NOSAVE command."
)
BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = (
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
)

# --- Checks the server makes inside ``call`` (scriptCall in script.c) --------
# ``call`` raises RedisError(<one of these>) and the runtime turns it into the
# Lua error table exactly as Redis does.
CALL_WRONG_ARITY = "ERR Wrong number of args calling Redis command from script"
CALL_UNKNOWN_COMMAND = "ERR Unknown Redis command called from script"
CALL_NOT_ALLOWED = "ERR This Redis command is not allowed from script"
CALL_STALE = "ERR Can not execute the command on a stale replica"
CALL_WRITE_IN_READONLY = "ERR Write commands are not allowed from read-only scripts."
CALL_ACL = "ERR The user executing the script {}"
CALL_STALE = "ERR Can not execute the command on a stale replica"
CALL_CROSS_SLOT = "ERR Script attempted to access keys that do not hash to the same slot"

# --- scriptPrepareForRun (checks before a flagged script starts) -------------
RUN_NO_CLUSTER = "ERR Can not run script on cluster, 'no-cluster' flag is set."
RUN_MASTERDOWN = (
    "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' "
    "and 'allow-stale' flag is not set on the script."
)
RUN_MASTERDOWN_COMPAT = (
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
)
RUN_READONLY_REPLICA = "READONLY Can not run script with write flag on readonly replica"
RUN_MISCONF_RDB = (
    "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to "
    "persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only "
    "scripts."
)
RUN_MISCONF_AOF = (
    "MISCONF Redis is configured to persist data to AOF, but it's currently unable to "
    "persist to disk. Writable scripts are blocked. Use 'no-writes' flag for read only "
    "scripts. AOF error: {}"
)
RUN_NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
RUN_OOM = (
    "OOM allow-oom flag is not set on the script, can not run it when used memory > "
    "'maxmemory'"
)

# --- FUNCTION * / FCALL -------------------------------------------------------
LIB_MISSING_METADATA = "ERR Missing library metadata"
LIB_INVALID_METADATA = "ERR Invalid library metadata"
LIB_NAME_TWICE = "ERR Invalid metadata value, name argument was given multiple times"
LIB_BAD_METADATA_VALUE = "ERR Invalid metadata value given: {}"
LIB_NO_NAME = "ERR Library name was not given"
LIB_BAD_NAME = (
    "ERR Library names can only contain letters, numbers, or underscores(_) and must be "
    "at least one character long"
)
LIB_ENGINE_NOT_FOUND = "ERR Engine '{}' not found"
LIB_EXISTS = "ERR Library '{}' already exists"
LIB_EXISTS_RESTORE = "ERR Library {} already exists"
LIB_NO_FUNCTIONS = "ERR No functions registered"
LIB_FUNCTION_EXISTS = "ERR Function {} already exists"
LIB_COMPILE_ERROR = "ERR Error compiling function: {}"
LIB_REGISTER_ERROR = "ERR Error registering functions: {}"
LIB_NOT_FOUND = "ERR Library not found"
FUNCTION_NOT_FOUND = "ERR Function not found"
FUNCTION_BAD_NUMKEYS = "ERR Bad number of keys provided"
FUNCTION_CODE_MISSING = "ERR Function code is missing"
FUNCTION_RESTORE_POLICY = (
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
)
FUNCTION_RESTORE_PAYLOAD = "ERR DUMP payload version or checksum are wrong"
FUNCTION_FLUSH_OPTION = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
FUNCTION_LIST_NO_NAME = "ERR library name argument was not given"
