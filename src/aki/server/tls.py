"""TLS for the RESP listener: Redis 7.0's ``tlsConfigure`` (src/tls.c) in Python's ssl.

``build_context`` turns the ``tls-*`` directives into one ``ssl.SSLContext`` or fails
with the line Redis logs; it never changes the context in use, so a bad CONFIG SET
leaves TLS as it was (Redis's "atomic" reconfiguration). The listener (listener.py)
accepts each connection itself and hands it the context current at that moment, which
is how a CONFIG SET of new certificates reaches new connections only.

Python's ssl has no call for TLSv1.3 ciphersuites nor for the server session cache's
size and timeout; ``_LibSSL`` makes those few OpenSSL calls through ctypes on the
``SSL_CTX`` inside the SSLContext, and only when the libssl it finds is the one this
process's ``_ssl`` module uses (checked by reading the context's options back). Without
it ``tls-ciphersuites`` is refused and the session cache keeps OpenSSL's defaults,
which are Redis's (20480 entries, 300 s).
"""

from __future__ import annotations

import ctypes
import logging
import ssl
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("aki.tls")

# tlsConfigure: the directives whose change rebuilds the context (applyTlsCfg)
CONTEXT_DIRECTIVES = (
    "tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-ca-cert-file", "tls-ca-cert-dir",
    "tls-protocols", "tls-ciphers", "tls-ciphersuites", "tls-prefer-server-ciphers",
    "tls-session-caching", "tls-session-cache-size", "tls-session-cache-timeout",
    "tls-dh-params-file",
)

_PROTOCOLS = {
    "tlsv1": ssl.TLSVersion.TLSv1, "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2, "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}
_ORDER = list(_PROTOCOLS.values())
_NO_OPTION = {
    ssl.TLSVersion.TLSv1: ssl.OP_NO_TLSv1, ssl.TLSVersion.TLSv1_1: ssl.OP_NO_TLSv1_1,
    ssl.TLSVersion.TLSv1_2: ssl.OP_NO_TLSv1_2, ssl.TLSVersion.TLSv1_3: ssl.OP_NO_TLSv1_3,
}

# tls-auth-clients -> what connCreateAcceptedTLS asks of the client
VERIFY_MODES = {"no": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "yes": ssl.CERT_REQUIRED}


class TLSConfigError(Exception):
    """tlsConfigure failed: the message is the warning Redis logs (its CONFIG SET reply and
    its start-up abort only say to check the log)."""


def parse_protocols(text: str) -> list[ssl.TLSVersion]:
    """parseProtocolsConfig: space-separated names, any case; empty means TLSv1.2 and 1.3."""
    if not text:
        return [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
    found = set()
    for token in text.split(" "):  # sdssplitlen on single spaces: "a  b" has an empty one
        version = _PROTOCOLS.get(token.lower())
        if version is None:
            raise TLSConfigError("Invalid tls-protocols specified. Use a combination of "
                                 "'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.")
        found.add(version)
    return [v for v in _ORDER if v in found]


def _set_protocols(ctx: ssl.SSLContext, versions: list[ssl.TLSVersion]) -> None:
    """Only these versions. Python deprecates naming TLSv1/1.1 and the OP_NO_* options
    (needed for a hole such as "TLSv1 TLSv1.3"), but Redis's directive allows both."""
    gaps = [v for v in _ORDER[_ORDER.index(versions[0]):_ORDER.index(versions[-1])]
            if v not in versions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = versions[0]
        ctx.maximum_version = versions[-1]
        for v in gaps:
            ctx.options |= _NO_OPTION[v]


def _reason(exc: BaseException) -> str:
    """OpenSSL's reason for a failure (the end of what Redis logs), without Python's
    ``[LIB: CODE]`` prefix and ``(_ssl.c:NNNN)`` suffix."""
    if isinstance(exc, ssl.SSLError):
        text = str(exc.args[1] if len(exc.args) > 1 else exc).split(" (_ssl.c:")[0]
        if text.startswith("[") and "] " in text:  # "[SSL: CODE] reason": the reason
            text = text.split("] ", 1)[1]
        return text
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def build_context(cfg: Any) -> ssl.SSLContext:
    """A new server context from ``cfg``'s tls-* directives, checked as tlsConfigure
    checks them; raises TLSConfigError with Redis's log line."""
    cert, key = cfg.tls_cert_file, cfg.tls_key_file
    if not cert:
        raise TLSConfigError("No tls-cert-file configured!")
    if not key:
        raise TLSConfigError("No tls-key-file configured!")
    ca_file, ca_dir = cfg.tls_ca_cert_file, cfg.tls_ca_cert_dir
    if (cfg.tls_auth_clients != "no" or cfg.tls_cluster or cfg.tls_replication) \
            and not ca_file and not ca_dir:
        raise TLSConfigError("Either tls-ca-cert-file or tls-ca-cert-dir must be specified "
                             "when tls-cluster, tls-replication or tls-auth-clients are enabled!")
    versions = parse_protocols(cfg.tls_protocols)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _set_protocols(ctx, versions)
    if not cfg.tls_prefer_server_ciphers:  # Python's default has it on, OpenSSL's off
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    _load_cert_and_key(ctx, cert, key, cfg.tls_key_file_pass)
    if ca_file or ca_dir:
        try:
            ctx.load_verify_locations(cafile=ca_file or None, capath=ca_dir or None)
        except (OSError, ValueError) as exc:
            raise TLSConfigError("Failed to configure CA certificate(s) file/directory: "
                                 f"{_reason(exc)}") from None
    ciphers = cfg.tls_ciphers
    try:
        # OpenSSL's default list, as Redis leaves it (Python narrows its own default)
        ctx.set_ciphers(ciphers or "DEFAULT")
    except ssl.SSLError:
        raise TLSConfigError(f"Failed to configure ciphers: {ciphers}") from None
    libssl = _LibSSL.get()
    if cfg.tls_ciphersuites:
        if libssl is None or not libssl.set_ciphersuites(ctx, cfg.tls_ciphersuites):
            raise TLSConfigError(f"Failed to configure ciphersuites: {cfg.tls_ciphersuites}")
    if libssl is not None:
        libssl.session_cache(ctx, cfg.tls_session_caching, cfg.tls_session_cache_size,
                             cfg.tls_session_cache_timeout)
    elif not cfg.tls_session_caching or cfg.tls_session_cache_size != 20480 \
            or cfg.tls_session_cache_timeout != 300:
        log.warning("tls-session-caching/-cache-size/-cache-timeout: this Python's ssl module "
                    "cannot set them; OpenSSL's defaults apply")
    dh = cfg.tls_dh_params_file
    if dh:
        try:
            Path(dh).open("rb").close()
        except OSError as exc:
            raise TLSConfigError(f"Failed to load {dh}: {exc.strerror}") from None
        try:
            ctx.load_dh_params(dh)
        except (OSError, ValueError):
            raise TLSConfigError(f"{dh}: failed to read DH params.") from None
    elif libssl is not None:
        libssl.dh_auto(ctx)
    ctx.verify_mode = VERIFY_MODES[cfg.tls_auth_clients]
    return ctx


def _load_cert_and_key(ctx: ssl.SSLContext, cert: str, key: str, password: str) -> None:
    """SSL_CTX_use_certificate_chain_file then use_PrivateKey_file, each failure named as
    Redis names it. An encrypted key without tls-key-file-pass fails (OpenSSL would
    otherwise ask on the terminal)."""
    try:
        Path(cert).open("rb").close()
    except OSError as exc:
        raise TLSConfigError(f"Failed to load certificate: {cert}: {exc.strerror}") from None
    try:
        Path(key).open("rb").close()
    except OSError as exc:
        raise TLSConfigError(f"Failed to load private key: {key}: {exc.strerror}") from None
    try:
        ctx.load_cert_chain(cert, key, password=password or "")
    except (ssl.SSLError, OSError, ValueError) as exc:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:  # which of the two is bad: does the certificate file read as one?
            probe.load_verify_locations(cafile=cert)
        except (ssl.SSLError, OSError, ValueError) as cert_exc:
            raise TLSConfigError(f"Failed to load certificate: {cert}: {_reason(cert_exc)}") from None
        raise TLSConfigError(f"Failed to load private key: {key}: {_reason(exc)}") from None


def accept_error_text(exc: BaseException) -> str:
    """What Redis's clientAcceptHandler logs for a failed handshake (OpenSSL's reason)."""
    if isinstance(exc, TimeoutError | ConnectionAbortedError):
        return "handshake timed out"
    if isinstance(exc, ssl.SSLError):
        return _reason(exc)
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


# -- the OpenSSL calls Python's ssl does not offer ----------------------------------------

_SSL_CTRL_SET_SESS_CACHE_SIZE = 42
_SSL_CTRL_SET_SESS_CACHE_MODE = 44
_SSL_CTRL_SET_DH_AUTO = 118
_SSL_SESS_CACHE_OFF = 0
_SSL_SESS_CACHE_SERVER = 2


class _LibSSL:
    """ctypes calls on the ``SSL_CTX *`` of an SSLContext (CPython's PySSLContext holds it
    right after the object header). Used only when the libssl is the one loaded in this
    process (so the one ``_ssl`` is linked to) and the pointer reads back the context's
    own options: a statically linked or unusual build gets ``None`` instead."""

    _instance: _LibSSL | None = None
    _probed = False

    def __init__(self, lib: ctypes.CDLL) -> None:
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
        lib.SSL_CTX_set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_long]
        lib.SSL_CTX_set_timeout.restype = ctypes.c_long
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        self.lib = lib

    @classmethod
    def get(cls) -> _LibSSL | None:
        if not cls._probed:
            cls._probed = True
            cls._instance = cls._probe()
        return cls._instance

    @classmethod
    def _probe(cls) -> _LibSSL | None:
        path = None
        try:
            with open("/proc/self/maps") as maps:
                for line in maps:
                    name = line.rsplit(" ", 1)[-1].strip()
                    if "/libssl.so" in name:
                        path = name
                        break
        except OSError:
            return None
        if path is None:
            return None
        try:
            candidate = cls(ctypes.CDLL(path))
            probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            probe.options |= ssl.OP_NO_TICKET
            probe.verify_mode = ssl.CERT_OPTIONAL
            if candidate._ptr(probe) is None:
                return None
        except (OSError, AttributeError):
            return None
        return candidate

    def _ptr(self, ctx: ssl.SSLContext) -> int | None:
        ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not ptr:
            return None
        lib = self.lib
        if lib.SSL_CTX_get_options(ptr) != int(ctx.options):
            return None
        expected = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}[ctx.verify_mode]
        if lib.SSL_CTX_get_verify_mode(ptr) & 3 != expected:
            return None
        return ptr

    def set_ciphersuites(self, ctx: ssl.SSLContext, suites: str) -> bool:
        ptr = self._ptr(ctx)
        return ptr is not None and self.lib.SSL_CTX_set_ciphersuites(ptr, suites.encode()) == 1

    def session_cache(self, ctx: ssl.SSLContext, on: bool, size: int, timeout: int) -> None:
        """tls-session-caching, -cache-size, -cache-timeout, as tlsConfigure sets them."""
        ptr = self._ptr(ctx)
        if ptr is None:
            return
        lib = self.lib
        if on:
            lib.SSL_CTX_ctrl(ptr, _SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_SERVER, None)
            lib.SSL_CTX_ctrl(ptr, _SSL_CTRL_SET_SESS_CACHE_SIZE, size, None)
            lib.SSL_CTX_set_timeout(ptr, timeout)
        else:
            lib.SSL_CTX_ctrl(ptr, _SSL_CTRL_SET_SESS_CACHE_MODE, _SSL_SESS_CACHE_OFF, None)

    def dh_auto(self, ctx: ssl.SSLContext) -> None:
        """SSL_CTX_set_dh_auto: DHE parameters matched to the key, as Redis with OpenSSL 3."""
        ptr = self._ptr(ctx)
        if ptr is not None:
            self.lib.SSL_CTX_ctrl(ptr, _SSL_CTRL_SET_DH_AUTO, 1, None)
