"""ACL users, selectors and permission checks: Redis 7.0's acl.c, ported.

The command universe is Redis 7.0.15's command table (every command and
subcommand Redis knows, implemented by aki or not, so rules, ACL CAT and the
rule descriptions match Redis); aki's own extra subcommands borrow a sibling's
permission (``Universe.proxies``). Each command
has an id; a selector's allowed commands are one Python int used as a bitmap,
with one reserved bit past the last id meaning "future commands" (set only by
``+@all``/``allcommands``), exactly as Redis reserves bit 1023.

Nothing here knows about sockets or the dispatcher: ``commands/acl.py`` wires
it in (the guard, AUTH, the ACL command).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

from aki.core.registry import _TABLE, COMMANDS
from aki.storage.keyspace import compile_glob

CATEGORIES = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
]

# ACLCheckAllPerm results (their order picks the error to report)
OK, DENIED_CMD, DENIED_KEY, DENIED_AUTH, DENIED_CHANNEL = 0, 1, 2, 3, 4
READ, WRITE = 1, 2
ALL_PERM = READ | WRITE

# ACLSetUser errno values, and ACLSetUserStringError's texts
SET_ERRORS = {
    "ENOENT": "Unknown command or category name in ACL",
    "EINVAL": "Syntax error",
    "EEXIST": "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and "
              "does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
    "EISDIR": "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid "
              "and does not have any effect. Try 'resetchannels' to start with an empty list "
              "of channels",
    "ENODEV": "The password you are trying to remove from the user does not exist",
    "EBADMSG": "The password hash must be exactly 64 characters and contain only lowercase "
               "hexadecimal characters",
    "EALREADY": "Duplicate user found. A user can only be defined once in config files",
    "ECHILD": "Allowing first-arg of a subcommand is not supported",
}


class AclError(Exception):
    """A rule ACLSetUser refuses; ``code`` is the errno name Redis would set."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    @property
    def text(self) -> str:
        return SET_ERRORS.get(self.code, "Wrong format")


# -- the command universe -------------------------------------------------------------------


class _Cmd:
    """One command of the ACL universe (a top-level command or a subcommand)."""

    __slots__ = ("fullname", "id", "categories", "subs", "parent")

    def __init__(self, fullname: str, cid: int, categories: set[str], parent: _Cmd | None
                 ) -> None:
        self.fullname = fullname
        self.id = cid
        self.categories = categories
        self.subs: dict[str, _Cmd] = {}
        self.parent = parent


class Universe:
    """Every command with its id, and per category the bits Redis sets and counts."""

    def __init__(self) -> None:
        self.tops: dict[str, _Cmd] = {}
        self.by_id: list[_Cmd] = []
        for name, entry in _TABLE.items():
            info = entry.get("info")
            if info is None:
                continue
            top = self._add(name, _cats(info[6]), None)
            subs = info[9]["v"] if isinstance(info[9], dict) else info[9]
            for sub in subs or []:
                self._add(sub[0], _cats(sub[6]), top)
        # aki's extra subcommands (CLIENT SETINFO, CLIENT NO-TOUCH) have no bit of their own,
        # so that rules and their descriptions stay Redis 7.0's: each is allowed when a
        # sibling with the same categories is (CLIENT SETNAME), or else its container.
        self.proxies: dict[str, _Cmd] = {}
        for reg in COMMANDS.values():
            top = self.tops.get(reg.name)  # its own name, whatever rename-command did
            if top is None:
                continue
            for sname, sub in reg.subcommands.items():
                if sname.decode() in top.subs or sub.info is None:
                    continue
                cats = {c.lstrip("@") for c in sub.categories}
                self.proxies[sub.fullname] = next(
                    (s for s in top.subs.values() if s.categories == cats), top)
        self.future = 1 << len(self.by_id)
        self.all_bits = (self.future << 1) - 1
        self.apply_mask: dict[str, int] = {}
        self.count_mask: dict[str, int] = {}
        self.firstarg_ids: dict[str, list[int]] = {}
        for cat in CATEGORIES:
            apply = count = 0
            ids = []
            for c in self.by_id:
                if cat in c.categories:
                    apply |= self.perm_mask(c)
                    ids.append(c.id)
                    count |= 1 << c.id
            self.apply_mask[cat] = apply
            self.count_mask[cat] = count
            self.firstarg_ids[cat] = ids

    def _add(self, fullname: str, cats: set[str], parent: _Cmd | None) -> _Cmd:
        c = _Cmd(fullname, len(self.by_id), cats, parent)
        self.by_id.append(c)
        if parent is None:
            self.tops[fullname] = c
        else:
            parent.subs[fullname.split("|", 1)[1]] = c
        return c

    @staticmethod
    def perm_mask(c: _Cmd) -> int:
        """ACLChangeSelectorPerm: a container's bit and all its subcommands' bits."""
        m = 1 << c.id
        for s in c.subs.values():
            m |= 1 << s.id
        return m

    def lookup(self, name: str) -> _Cmd | None:
        """ACLLookupCommand: ``cmd`` or ``container|sub``, case-insensitive."""
        parts = name.lower().split("|")
        if len(parts) > 2:
            return None
        top = self.tops.get(parts[0])
        if top is None or len(parts) == 1:
            return top
        if not top.subs:
            return None
        return top.subs.get(parts[1])

    def walk(self):
        """Top-level commands in table order (their subcommands in ``subs``)."""
        yield from self.tops.values()


def _cats(tagged: Any) -> set[str]:
    return {x["v"].lstrip("@") for x in tagged["v"]}


_UNIVERSE: Universe | None = None


def universe() -> Universe:
    """Built on first use, after every command family has registered."""
    global _UNIVERSE
    if _UNIVERSE is None:
        _UNIVERSE = Universe()
    return _UNIVERSE


def hash_password(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def _valid_hash(h: bytes) -> bool:
    return len(h) == 64 and all(c in b"0123456789abcdef" for c in h)


def _rule_hash(op: bytes) -> str:
    """The password hash a >pass / <pass (hashed here) or #hash / !hash rule names."""
    if op[:1] in (b">", b"<"):
        return hash_password(op[1:])
    if not _valid_hash(op[1:]):
        raise AclError("EBADMSG")
    return op[1:].decode()


def has_spaces(s: bytes) -> bool:
    """ACLStringHasSpaces: spaces and NUL bytes are refused in names and patterns."""
    return any(ch in (0x20, 0) for ch in s) or any(ch in b"\t\n\r\x0b\x0c" for ch in s)


# -- selectors and users --------------------------------------------------------------------


class KeyPattern:
    __slots__ = ("pattern", "flags", "_match")

    def __init__(self, pattern: bytes, flags: int) -> None:
        self.pattern = pattern
        self.flags = flags
        self._match: Any = None

    def match(self, key: bytes) -> bool:
        if self._match is None:
            self._match = compile_glob(self.pattern)
        return bool(self._match(key))

    def describe(self) -> bytes:
        if self.flags == ALL_PERM:
            return b"~" + self.pattern
        if self.flags == READ:
            return b"%R~" + self.pattern
        return b"%W~" + self.pattern

    def __deepcopy__(self, memo: dict) -> KeyPattern:
        return KeyPattern(self.pattern, self.flags)


_channel_matchers: dict[bytes, Any] = {}


def channel_match(pattern: bytes, channel: bytes) -> bool:
    m = _channel_matchers.get(pattern)
    if m is None:
        if len(_channel_matchers) > 4096:
            _channel_matchers.clear()
        m = _channel_matchers[pattern] = compile_glob(pattern)
    return bool(m(channel))


def channel_in_list(channels: list[bytes], channel: bytes, is_pattern: bool) -> bool:
    """ACLCheckChannelAgainstList: a pattern (PSUBSCRIBE) matches only literally."""
    for pat in channels:
        if (is_pattern and pat == channel) or (not is_pattern and channel_match(pat, channel)):
            return True
    return False


class Selector:
    """aclSelector: commands bitmap, first-args, key patterns, channel patterns."""

    __slots__ = ("root", "allkeys", "allchannels", "allcommands", "allowed", "firstargs",
                 "patterns", "channels")

    def __init__(self, root: bool = False, allchannels: bool = False) -> None:
        self.root = root
        self.allkeys = False
        self.allchannels = allchannels  # acl-pubsub-default when created
        self.allcommands = False
        self.allowed = 0
        self.firstargs: dict[int, list[bytes]] = {}
        self.patterns: list[KeyPattern] = []
        self.channels: list[bytes] = []

    def copy(self) -> Selector:
        s = Selector(self.root, self.allchannels)
        s.allkeys = self.allkeys
        s.allcommands = self.allcommands
        s.allowed = self.allowed
        s.firstargs = {k: list(v) for k, v in self.firstargs.items()}
        s.patterns = copy.deepcopy(self.patterns)
        s.channels = list(self.channels)
        return s

    # ACLSetSelector
    def apply(self, op: bytes, pubsub_default_all: bool) -> None:
        u = universe()
        low = op.lower()
        if low in (b"allkeys", b"~*"):
            self.allkeys = True
            self.patterns = []
        elif low == b"resetkeys":
            self.allkeys = False
            self.patterns = []
        elif low in (b"allchannels", b"&*"):
            self.allchannels = True
            self.channels = []
        elif low == b"resetchannels":
            self.allchannels = False
            self.channels = []
        elif low in (b"allcommands", b"+@all"):
            self.allowed = u.all_bits
            self.allcommands = True
            self.firstargs = {}
        elif low in (b"nocommands", b"-@all"):
            self.allowed = 0
            self.allcommands = False
            self.firstargs = {}
        elif op[:1] in (b"~", b"%"):
            if self.allkeys:
                raise AclError("EEXIST")
            flags = 0
            offset = 1
            if op[:1] == b"%":
                n = len(op)
                while offset < n:
                    ch = op[offset:offset + 1]
                    if ch.upper() == b"R" and not flags & READ:
                        flags |= READ
                    elif ch.upper() == b"W" and not flags & WRITE:
                        flags |= WRITE
                    elif ch == b"~":
                        offset += 1
                        break
                    else:
                        raise AclError("EINVAL")
                    offset += 1
            else:
                flags = ALL_PERM
            pattern = op[offset:]
            if has_spaces(pattern):
                raise AclError("EINVAL")
            for p in self.patterns:
                if p.pattern == pattern:
                    p.flags |= flags
                    break
            else:
                self.patterns.append(KeyPattern(pattern, flags))
            self.allkeys = False
        elif op[:1] == b"&":
            if self.allchannels:
                raise AclError("EISDIR")
            pattern = op[1:]
            if has_spaces(pattern):
                raise AclError("EINVAL")
            if pattern not in self.channels:
                self.channels.append(pattern)
            self.allchannels = False
        elif op[:1] == b"+" and op[1:2] != b"@":
            name = op[1:].decode("utf-8", "surrogateescape")
            if "|" not in name:
                c = u.lookup(name)
                if c is None:
                    raise AclError("ENOENT")
                self._change(c, True)
            else:
                head, _, sub = name.rpartition("|")
                c = u.lookup(head)
                if c is None:
                    raise AclError("ENOENT")
                if c.parent is not None:
                    raise AclError("ECHILD")
                if not sub:
                    raise AclError("EINVAL")
                if c.subs:
                    sc = u.lookup(name)
                    if sc is None:
                        raise AclError("ENOENT")
                    self._change(sc, True)
                else:
                    args = self.firstargs.setdefault(c.id, [])
                    subb = sub.encode("utf-8", "surrogateescape")
                    if not any(a.lower() == subb.lower() for a in args):
                        args.append(subb)
        elif op[:1] == b"-" and op[1:2] != b"@":
            c = u.lookup(op[1:].decode("utf-8", "surrogateescape"))
            if c is None:
                raise AclError("ENOENT")
            self._change(c, False)
        elif op[:1] in (b"+", b"-") and op[1:2] == b"@":
            cat = op[2:].decode("utf-8", "surrogateescape").lower()
            mask = u.apply_mask.get(cat)
            if mask is None:
                raise AclError("ENOENT")
            if op[:1] == b"+":
                self.allowed |= mask
            else:
                self.allowed &= ~mask
                self.allcommands = False
            for cid in u.firstarg_ids[cat]:
                self.firstargs.pop(cid, None)
        else:
            raise AclError("EINVAL")

    def _change(self, c: _Cmd, allow: bool) -> None:
        """ACLChangeSelectorPerm."""
        mask = Universe.perm_mask(c)
        if allow:
            self.allowed |= mask
        else:
            self.allowed &= ~mask
            self.allcommands = False
        self.firstargs.pop(c.id, None)

    def has_bit(self, cid: int) -> bool:
        return cid >= 0 and bool(self.allowed >> cid & 1)

    # -- descriptions ---------------------------------------------------------------------

    def describe_commands(self) -> bytes:
        """ACLDescribeSelectorCommandRules: +@all/-@all, best-fit categories, then the
        single commands that still differ (checked against the bitmap at the end)."""
        u = universe()
        rules: list[bytes] = []
        fake = Selector()
        if self.allowed & u.future:
            additive = False
            rules.append(b"+@all")
            fake.apply(b"+@all", False)
        else:
            additive = True
            rules.append(b"-@all")
        temp = self.allowed
        applied: set[str] = set()
        while True:
            best = None
            mindiff = 1 << 62
            maxsame = 0
            for cat in CATEGORIES:
                if cat in applied:
                    continue
                cm = u.count_mask[cat]
                on = (temp & cm).bit_count()
                off = cm.bit_count() - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < mindiff or (diff == mindiff and same > maxsame)):
                    best, mindiff, maxsame = cat, diff, same
            if best is None:
                break
            sign = b"+@" if additive else b"-@"
            fake.apply(sign + best.encode(), False)
            if additive:
                temp &= ~u.apply_mask[best]
            else:
                temp |= u.apply_mask[best]
            rules.append(sign + best.encode())
            applied.add(best)
        for top in u.walk():
            self._describe_single(top, fake, rules)
        if fake.allowed != self.allowed:
            raise RuntimeError("ACL rules do not describe the user's bitmap")
        return b" ".join(rules)

    def _describe_single(self, c: _Cmd, fake: Selector, rules: list[bytes]) -> None:
        userbit = self.has_bit(c.id)
        if userbit != fake.has_bit(c.id):
            rules.append((b"+" if userbit else b"-") + c.fullname.encode())
            fake._change(c, userbit)
        for s in c.subs.values():
            self._describe_single(s, fake, rules)
        if not userbit:
            for arg in self.firstargs.get(c.id, ()):
                rules.append(b"+" + c.fullname.encode() + b"|" + arg)

    def describe_keys(self) -> bytes:
        if self.allkeys:
            return b"~*"
        return b" ".join(p.describe() for p in self.patterns)

    def describe_channels(self) -> bytes:
        if self.allchannels:
            return b"&*"
        return b" ".join(b"&" + c for c in self.channels)

    def describe(self) -> bytes:
        """ACLDescribeSelector."""
        out = b""
        if self.allkeys:
            out += b"~* "
        else:
            for p in self.patterns:
                out += p.describe() + b" "
        if self.allchannels:
            out += b"&* "
        else:
            out += b"resetchannels "
            for ch in self.channels:
                out += b"&" + ch + b" "
        return out + self.describe_commands()

    def unrestricted(self) -> bool:
        u = universe()
        return (self.allkeys and self.allchannels and self.allowed == u.all_bits
                and not self.firstargs)

    # -- checks ---------------------------------------------------------------------------

    def check_key(self, key: bytes, key_flags: int) -> bool:
        """ACLSelectorCheckKey, with the key spec's access already turned into R/W bits."""
        if self.allkeys:
            return True
        for p in self.patterns:
            if p.flags & key_flags != key_flags:
                continue
            if p.match(key):
                return True
        return False

    def check_cmd(self, c: _Cmd, noauth: bool, argv: list[bytes], keys: _KeyCache
                  ) -> tuple[int, int]:
        """ACLSelectorCheckCmd: (result, index of the offending argument)."""
        if not self.allcommands and not noauth and not self.has_bit(c.id):
            args = self.firstargs.get(c.id)
            if len(argv) < 2 or not args:
                return DENIED_CMD, 0
            idx = 2 if c.parent is not None else 1
            if idx >= len(argv):
                return DENIED_CMD, 0
            want = argv[idx].lower()
            if not any(a.lower() == want for a in args):
                return DENIED_CMD, 0
        if not self.allkeys:
            for pos, kflags in keys.get():
                if not self.check_key(argv[pos], kflags):
                    return DENIED_KEY, pos
        if not self.allchannels:
            spec = CHANNEL_SPECS.get(c.fullname)
            if spec is not None and spec[0] & (CH_PUBLISH | CH_SUBSCRIBE):
                flags, start, count = spec
                stop = len(argv) if count == -1 else min(start + count, len(argv))
                for i in range(start, stop):
                    if not channel_in_list(self.channels, argv[i], bool(flags & CH_PATTERN)):
                        return DENIED_CHANNEL, i
        return OK, 0


CH_SUBSCRIBE, CH_UNSUBSCRIBE, CH_PUBLISH, CH_PATTERN = 1, 2, 4, 8
# getChannelsFromCommand's table: flags, first channel, count (-1: all the rest)
CHANNEL_SPECS: dict[str, tuple[int, int, int]] = {
    "subscribe": (CH_SUBSCRIBE, 1, -1),
    "ssubscribe": (CH_SUBSCRIBE, 1, -1),
    "unsubscribe": (CH_UNSUBSCRIBE, 1, -1),
    "sunsubscribe": (CH_UNSUBSCRIBE, 1, -1),
    "psubscribe": (CH_PATTERN | CH_SUBSCRIBE, 1, -1),
    "punsubscribe": (CH_PATTERN | CH_UNSUBSCRIBE, 1, -1),
    "publish": (CH_PUBLISH, 1, 1),
    "spublish": (CH_PUBLISH, 1, 1),
}


class _KeyCache:
    """The command's keys, computed once for all the selectors (aclKeyResultCache)."""

    __slots__ = ("finder", "argv", "keys")

    def __init__(self, finder: Any, argv: list[bytes]) -> None:
        self.finder = finder
        self.argv = argv
        self.keys: list[tuple[int, int]] | None = None

    def get(self) -> list[tuple[int, int]]:
        if self.keys is None:
            self.keys = self.finder(self.argv) if self.finder is not None else []
        return self.keys


class User:
    """A user: on/off, nopass, payload sanitising, password hashes and selectors."""

    def __init__(self, name: str, pubsub_default_all: bool = False) -> None:
        self.name = name
        self.enabled = False  # "off" until "on"
        self.nopass = False
        self.sanitize: str | None = None  # "skip-sanitize-payload" | "sanitize-payload"
        self.passwords: list[str] = []
        self.selectors: list[Selector] = [Selector(root=True, allchannels=pubsub_default_all)]
        self._open: bool | None = None

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    def copy_from(self, other: User) -> None:
        """ACLCopyUser: every rule of ``other``, keeping this name."""
        self.enabled = other.enabled
        self.nopass = other.nopass
        self.sanitize = other.sanitize
        self.passwords = list(other.passwords)
        self.selectors = [s.copy() for s in other.selectors]
        self._open = None

    def clone(self) -> User:
        u = User(self.name)
        u.copy_from(self)
        return u

    def apply(self, op: bytes, pubsub_default_all: bool) -> None:
        """ACLSetUser: one rule; raises AclError."""
        self._open = None
        if not op:
            return
        low = op.lower()
        if low == b"on":
            self.enabled = True
        elif low == b"off":
            self.enabled = False
        elif low == b"skip-sanitize-payload":
            self.sanitize = "skip-sanitize-payload"
        elif low == b"sanitize-payload":
            self.sanitize = "sanitize-payload"
        elif low == b"nopass":
            self.nopass = True
            self.passwords = []
        elif low == b"resetpass":
            self.nopass = False
            self.passwords = []
        elif op[:1] in (b">", b"#"):
            h = _rule_hash(op)
            if h not in self.passwords:
                self.passwords.append(h)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            h = _rule_hash(op)
            if h not in self.passwords:
                raise AclError("ENODEV")
            self.passwords.remove(h)
        elif op[:1] == b"(" and op[-1:] == b")":
            s = Selector(allchannels=pubsub_default_all)
            from aki.resp.parser import split_args

            args = split_args(op[1:-1]) or []
            for a in args:
                s.apply(a, pubsub_default_all)
            self.selectors.append(s)
        elif low == b"clearselectors":
            del self.selectors[1:]
        elif low == b"reset":
            self.apply(b"resetpass", pubsub_default_all)
            self.apply(b"resetkeys", pubsub_default_all)
            self.apply(b"resetchannels", pubsub_default_all)
            if pubsub_default_all:
                self.apply(b"allchannels", pubsub_default_all)
            self.apply(b"off", pubsub_default_all)
            self.apply(b"sanitize-payload", pubsub_default_all)
            self.apply(b"clearselectors", pubsub_default_all)
            self.apply(b"-@all", pubsub_default_all)
        else:
            self.root.apply(op, pubsub_default_all)

    def flag_names(self) -> list[str]:
        out = ["on" if self.enabled else "off"]
        if self.nopass:
            out.append("nopass")
        if self.sanitize is not None:
            out.append(self.sanitize)
        return out

    def describe(self) -> bytes:
        """ACLDescribeUser: the rules ACL LIST and ACL SAVE write."""
        out = b"".join(f.encode() + b" " for f in self.flag_names())
        out += b"".join(b"#" + p.encode() + b" " for p in self.passwords)
        for s in self.selectors:
            if s.root:
                out += s.describe()
            else:
                out += b" (" + s.describe() + b")"
        return out

    def unrestricted(self) -> bool:
        """Needs no permission check at all: one selector that allows everything."""
        if self._open is None:
            self._open = len(self.selectors) == 1 and self.root.unrestricted()
        return self._open

    def check_password(self, password: bytes) -> bool:
        """ACLCheckUserCredentials for an existing user."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        given = hash_password(password)
        ok = False
        for stored in self.passwords:  # time_independent_strcmp: try every hash
            ok |= hmac.compare_digest(given, stored)
        return ok

    def check(self, c: _Cmd, noauth: bool, argv: list[bytes], finder: Any) -> tuple[int, int]:
        """ACLCheckAllUserCommandPerm: OK when one selector allows it; otherwise the
        command error, or the last key/channel no selector could match."""
        keys = _KeyCache(finder, argv)
        relevant = DENIED_CMD
        last = 0
        for s in self.selectors:
            res, idx = s.check_cmd(c, noauth, argv, keys)
            if res == OK:
                return OK, 0
            if res > relevant or (res == relevant and idx > last):
                relevant, last = res, idx
        return relevant, last

    def check_channel(self, channel: bytes, is_pattern: bool) -> bool:
        for s in self.selectors:
            if s.allchannels or channel_in_list(s.channels, channel, is_pattern):
                return True
        return False


def merge_selector_args(args: list[bytes]) -> tuple[list[bytes] | None, int]:
    """ACLMergeSelectorArguments: join "(a" "b)" into one "(a b)" rule; on an unmatched
    parenthesis returns None and the index where it opened."""
    out: list[bytes] = []
    current: bytes | None = None
    start = -1
    for j, op in enumerate(args):
        if op[:1] == b"(" and op[-1:] != b")":
            current = op
            start = j
            continue
        if current is not None:
            current += b" " + op
            if op[-1:] == b")":
                out.append(current)
                current = None
                start = -1
            continue
        out.append(op)
    if current is not None:
        return None, start
    return out, -1
