/* aki._lane: the GET lane, compiled.
 *
 * Why: under `redis-benchmark -c 50 -P 1` nearly every read holds one request, and
 * for a GET whose row is in the row cache the interpreter's part of the road
 * (data_received -> parser.feed -> execute()'s cached-read branch -> read_string ->
 * encode -> _flush) was about 5 us of the ~22 us a request costs the server, the rest
 * being the kernel's socket work and uvloop. This file is the same road for that one
 * case, in C, with the same effects: INFO stats (net_input/net_output, keyspace
 * hits/misses, commandstats, the latency histogram), SLOWLOG through dispatch._slow,
 * the client's last_interaction and last_cmd, the row's access time.
 *
 * It is not a second road: every state that makes the Python road do anything else
 * (MULTI, pub/sub context, ACL guard, replication guards, monitors, tracking hooks,
 * CLIENT PAUSE, CLIENT REPLY, a suspended or pipelined client, an open batch, a row
 * not cached, expired, of another type, LFU policy, a reply over the static buffer ...)
 * is checked first, with no side effect, and hands the read to
 * `RespConnection._data_received` unchanged. Everything is checked before anything is
 * changed, so a fallback never counts a request twice.
 *
 * No durability invariants live here: a GET reads, it never writes, and it replies
 * only outside an open batch (never ahead of a COMMIT).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>
#include <structmember.h>

/* configured by aki.server.connection at import (configure()) */
static PyObject *g_plain;      /* dispatch._PLAIN: spelling -> Command */
static PyObject *g_get_cached; /* strings._get_cached: the GET's cached_read */
static PyObject *g_slow;       /* dispatch._slow(server, client, cmd, argv, usec) */

static unsigned long long g_served; /* GETs answered here (INFO aki_get_lane_served) */

static PyObject *g_GET, *g_get; /* the usual spellings, shared */
static PyObject *g_on, *g_guard, *g_resp3_null, *g_resp2_null, *g_one;

/* interned attribute names (of the dict-backed objects, and methods) */
static PyObject *s_in_tx, *s_is_closing, *s_write, *s_authenticated, *s_paused_until,
    *s_in_multi, *s_resp, *s_channels, *s_patterns, *s_shard_channels, *s_extensions,
    *s_state_guards, *s_monitors, *s_after_read, *s_reply_mode, *s_close_after_reply,
    *s_deferred_pushes, *s_ks, *s_fresh, *s_lfu, *s_cache, *s_db, *s_now,
    *s_last_interaction, *s_stats, *s_net_input, *s_net_output, *s_misses, *s_hits,
    *s_latency_tracking, *s_last_cmd, *s_slow_at, *s__data_received, *s_refresh,
    *s__flush, *s_no_touch, *s_io_reads, *s_io_writes;

/* Redis's static reply buffer (connection._REPLY_BUF): bigger replies take the
 * Python road, which checks client-output-buffer-limit first. */
#define REPLY_BUF (16 * 1024)

/* Attribute access. Generic getattr from C costs ~190 instructions (type lookup, then
 * the instance), more than the interpreter's specialised LOAD_ATTR: measured, a lane
 * built on it saved only a third of the Python road. So the slotted classes
 * (RespConnection, RequestParser, Command, KeyRow) are read at their slot offsets,
 * found once by configure(); Client and Server, whose 40-odd attributes are past what
 * CPython keeps as inline values (their instance dict exists from __init__ on), through
 * that dict, falling back to getattr for a class-level default (no properties or
 * __setattr__ on the names read here). Keyspace, Stats and Engine still hold inline
 * values: asking for their __dict__ would build one and make every Python access to
 * them twice as slow (measured), so they take getattr. */
typedef struct {
    const char *name;
    Py_ssize_t *offset;
} SlotSpec;

static PyTypeObject *t_conn, *t_parser, *t_command, *t_row;
static Py_ssize_t o_closing, o_client, o_server, o_parser, o_suspended, o_pending, o_holding,
    o_engine, o_out, o_backlogged, o_transport, o_python, o_paused, o_authenticated,
    o_max_bulk_len, o_cached_read, o_calls, o_usec, o_latency, o_fullname, o_type,
    o_expire_at, o_value, o_atime;

/* borrowed; NULL when the slot is unset */
#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

static void
set_slot(PyObject *o, Py_ssize_t off, PyObject *v)
{
    PyObject **p = (PyObject **)((char *)o + off);
    Py_XSETREF(*p, Py_NewRef(v));
}

static int
slot_offsets(PyTypeObject *type, const SlotSpec *specs)
{
    for (; specs->name != NULL; specs++) {
        PyObject *d = PyObject_GetAttrString((PyObject *)type, specs->name);
        if (d == NULL)
            return -1;
        if (!Py_IS_TYPE(d, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
            Py_DECREF(d);
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, specs->name);
            return -1;
        }
        *specs->offset = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
    }
    return 0;
}

/* new reference to o.name, read from o's instance dict `d` first */
static PyObject *
dattr(PyObject *o, PyObject *d, PyObject *name)
{
    PyObject *v = PyDict_GetItemWithError(d, name);
    if (v != NULL)
        return Py_NewRef(v);
    if (PyErr_Occurred())
        return NULL;
    return PyObject_GetAttr(o, name);
}

/* The truth of a new reference, which it releases: 1, 0, or -1 (NULL: an error). */
static int
truth(PyObject *v)
{
    if (v == NULL)
        return -1;
    int r = PyObject_IsTrue(v);
    Py_DECREF(v);
    return r;
}

/* o.name += delta, through getattr/setattr (objects whose dict must stay unmaterialised) */
static int
gadd(PyObject *o, PyObject *name, PyObject *delta)
{
    PyObject *v = PyObject_GetAttr(o, name);
    if (v == NULL)
        return -1;
    PyObject *n = PyNumber_Add(v, delta);
    Py_DECREF(v);
    if (n == NULL)
        return -1;
    int r = PyObject_SetAttr(o, name, n);
    Py_DECREF(n);
    return r;
}

/* slot += delta */
static int
slot_add(PyObject *o, Py_ssize_t off, PyObject *delta)
{
    PyObject *v = SLOT(o, off);
    if (v == NULL)
        return 0; /* unset: nothing to count on (never the case for a Command) */
    PyObject *n = PyNumber_Add(v, delta);
    if (n == NULL)
        return -1;
    set_slot(o, off, n);
    Py_DECREF(n);
    return 0;
}

static double
seconds(clockid_t clock) /* CLOCK_REALTIME: time.time(); CLOCK_MONOTONIC: perf_counter() */
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "$<n>\r\n" into buf (at least 24 bytes); its length. snprintf cost ~700
 * instructions here, a tenth of the lane. */
static int
bulk_header(char *buf, Py_ssize_t n)
{
    char digits[24];
    int d = 0;
    do {
        digits[d++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    int i = 0;
    buf[i++] = '$';
    while (d > 0)
        buf[i++] = digits[--d];
    buf[i++] = '\r';
    buf[i++] = '\n';
    return i;
}

/* Parse a canonical `*2\r\n$3\r\nGET\r\n$<n>\r\n<key>\r\n` at the start of p[0:len].
 * Returns its length and sets *keyat and *keylen, or -1 when p does not start with one
 * whole such request. */
static Py_ssize_t
parse_get(const char *p, Py_ssize_t len, Py_ssize_t *keyat, Py_ssize_t *keylen)
{
    if (len < 19 || memcmp(p, "*2\r\n$3\r\n", 8) != 0)
        return -1;
    if ((p[8] | 0x20) != 'g' || (p[9] | 0x20) != 'e' || (p[10] | 0x20) != 't')
        return -1;
    if (p[11] != '\r' || p[12] != '\n' || p[13] != '$')
        return -1;
    Py_ssize_t i = 14, n = 0;
    if (p[i] == '0') {
        i++;
    } else {
        int digits = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 10) {
            n = n * 10 + (p[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits == 10)
            return -1;
    }
    if (i + 2 > len || p[i] != '\r' || p[i + 1] != '\n')
        return -1;
    i += 2;
    if (i + n + 2 > len || p[i + n] != '\r' || p[i + n + 1] != '\n')
        return -1;
    *keyat = i;
    *keylen = n;
    return i + n + 2;
}

/* One GET, the request p[0:len] (its key at p[keyat:keyat+keylen]): 1 = served, its
 * reply in *reply_out (counted and logged, not yet written); 0 = not for the lane
 * (nothing changed); -1 = error. The read's own effects (net_input, the write,
 * net_output) are the caller's. */
static int
serve_one(PyObject *self, const char *p, Py_ssize_t len, Py_ssize_t keyat,
          Py_ssize_t keylen, PyObject **reply_out)
{

    int result = -1, t;
    long resp;
    PyObject *b, *v = NULL, *spelling = NULL, *key = NULL, *ck = NULL, *reply = NULL;
    PyObject *cd = NULL, *sd = NULL;
    PyObject *ks = NULL, *cache = NULL, *engine = NULL;
    PyObject *usecobj = NULL, *row = NULL, *value = NULL, *transport = NULL;
    PyObject *client = NULL, *server = NULL, *parser = NULL, *cmd = NULL, *authenticated = NULL;
    double start = seconds(CLOCK_MONOTONIC);

#define FAIL_IF(cond)                        \
    do {                                     \
        if (cond) { result = 0; goto done; } \
    } while (0)
#define TRUTH(expr)                          \
    do {                                     \
        t = (expr);                          \
        if (t < 0) goto done;                \
    } while (0)
/* not for the lane when any of the attributes `names` (NULL-ended) of o is truthy */
#define FAIL_IF_ANY_SET(o, d, names)                         \
    do {                                                     \
        for (PyObject ***n_ = (names); *n_ != NULL; n_++) {  \
            TRUTH(truth(dattr((o), (d), **n_)));             \
            FAIL_IF(t);                                      \
        }                                                    \
    } while (0)

    /* the connection: open, nothing queued, not held behind a batch */
    b = SLOT(self, o_closing);
    FAIL_IF(b != Py_False);
    FAIL_IF(SLOT(self, o_suspended) != Py_None);
    b = SLOT(self, o_pending);
    FAIL_IF(b == NULL);
    TRUTH(PyObject_IsTrue(b));
    FAIL_IF(t);
    FAIL_IF(SLOT(self, o_holding) != Py_False);
    b = SLOT(self, o_out);
    FAIL_IF(b == NULL || !PyList_CheckExact(b) || PyList_GET_SIZE(b) != 0);
    FAIL_IF(SLOT(self, o_backlogged) != Py_False);
    transport = Py_XNewRef(SLOT(self, o_transport));
    FAIL_IF(transport == NULL || transport == Py_None);
    engine = Py_XNewRef(SLOT(self, o_engine));
    FAIL_IF(engine == NULL);
    TRUTH(truth(PyObject_GetAttr(engine, s_in_tx)));
    FAIL_IF(t);

    /* the parser: on a request boundary, in hiredis's hands */
    parser = Py_XNewRef(SLOT(self, o_parser));
    FAIL_IF(parser == NULL || !Py_IS_TYPE(parser, t_parser));
    FAIL_IF(SLOT(parser, o_python) != Py_False || SLOT(parser, o_paused) != Py_False);
    b = SLOT(parser, o_max_bulk_len);
    FAIL_IF(b == NULL || !PyLong_CheckExact(b));
    {
        Py_ssize_t limit = PyLong_AsSsize_t(b);
        if (limit == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            result = 0;
            goto done;
        }
        FAIL_IF(len > limit);
    }

    /* the client: authenticated, outside MULTI, replies on, no pub/sub context */
    client = Py_XNewRef(SLOT(self, o_client));
    FAIL_IF(client == NULL);
    cd = PyObject_GenericGetDict(client, NULL);
    if (cd == NULL) goto done;
    authenticated = Py_XNewRef(PyDict_GetItemWithError(cd, s_authenticated));
    FAIL_IF(authenticated == NULL);
    TRUTH(PyObject_IsTrue(authenticated));
    FAIL_IF(!t);
    /* MULTI, CLIENT NO-TOUCH (a GET must not move the access time), a closing client,
     * tracking pushes waiting behind the reply */
    PyObject **client_unset[] = {&s_in_multi, &s_no_touch, &s_close_after_reply,
                                 &s_deferred_pushes, NULL};
    FAIL_IF_ANY_SET(client, cd, client_unset);
    b = PyDict_GetItemWithError(cd, s_reply_mode);
    FAIL_IF(b == NULL);
    if (b != g_on) {
        TRUTH(PyObject_RichCompareBool(b, g_on, Py_EQ));
        FAIL_IF(!t);
    }
    b = PyDict_GetItemWithError(cd, s_resp);
    FAIL_IF(b == NULL || !PyLong_CheckExact(b));
    resp = PyLong_AsLong(b);
    if (resp == 2) { /* RESP2 subscribers may only (un)subscribe, PING ... */
        PyObject **subscriptions[] = {&s_channels, &s_patterns, &s_shard_channels, NULL};
        FAIL_IF_ANY_SET(client, cd, subscriptions);
    }

    /* the command: GET under this spelling, still the GET (rename-command) */
    if (memcmp(p + 8, "GET", 3) == 0) {
        spelling = Py_NewRef(g_GET);
    } else if (memcmp(p + 8, "get", 3) == 0) {
        spelling = Py_NewRef(g_get);
    } else {
        spelling = PyBytes_FromStringAndSize(p + 8, 3);
        if (spelling == NULL) goto done;
    }
    cmd = Py_XNewRef(PyDict_GetItemWithError(g_plain, spelling));
    if (cmd == NULL) {
        if (!PyErr_Occurred()) result = 0;
        goto done;
    }
    FAIL_IF(!Py_IS_TYPE(cmd, t_command) || SLOT(cmd, o_cached_read) != g_get_cached);

    /* the server: nothing that watches or refuses commands */
    server = Py_XNewRef(SLOT(self, o_server));
    FAIL_IF(server == NULL);
    sd = PyObject_GenericGetDict(server, NULL);
    if (sd == NULL) goto done;
    /* CLIENT PAUSE, replication's refusals (NOREPLICAS, READONLY ...), MONITOR,
     * tracking (client-side caching remembers reads) */
    PyObject **server_unset[] = {&s_paused_until, &s_state_guards, &s_monitors,
                                 &s_after_read, NULL};
    FAIL_IF_ANY_SET(server, sd, server_unset);
    b = PyDict_GetItemWithError(sd, s_extensions);
    FAIL_IF(b == NULL || !PyDict_CheckExact(b));
    TRUTH(PyDict_Contains(b, g_guard));
    FAIL_IF(t);

    /* the row cache: a current cache, the key cached, a live string */
    ks = dattr(server, sd, s_ks);
    if (ks == NULL) goto done;
    TRUTH(truth(PyObject_GetAttr(ks, s_fresh)));
    if (!t) {
        /* the first cached read of this loop iteration: Keyspace.refresh() looks for
         * another process's commit, as read_string would before its lookup */
        v = PyObject_CallMethodNoArgs(ks, s_refresh);
        if (v == NULL) goto done;
        t = PyObject_IsTrue(v);
        Py_CLEAR(v);
        if (t < 0) goto done;
        FAIL_IF(!t);
    }
    TRUTH(truth(PyObject_GetAttr(ks, s_lfu)));
    FAIL_IF(t);
    cache = PyObject_GetAttr(ks, s_cache);
    if (cache == NULL) goto done;
    FAIL_IF(!PyDict_CheckExact(cache));
    b = PyDict_GetItemWithError(cd, s_db);
    FAIL_IF(b == NULL);
    key = PyBytes_FromStringAndSize(p + keyat, keylen);
    if (key == NULL) goto done;
    ck = PyTuple_Pack(2, b, key);
    if (ck == NULL) goto done;
    row = PyDict_GetItemWithError(cache, ck);
    if (row == NULL) {
        if (!PyErr_Occurred()) result = 0; /* not cached: the Python road loads it */
        goto done;
    }
    Py_INCREF(row);
    if (row != Py_None) {
        FAIL_IF(!PyObject_TypeCheck(row, t_row));
        b = SLOT(row, o_type);
        FAIL_IF(b == NULL || !PyLong_CheckExact(b) || PyLong_AsLong(b) != 0);
        b = SLOT(row, o_expire_at);
        FAIL_IF(b == NULL);
        if (b != Py_None) {
            Py_INCREF(b);
            PyObject *now = PyObject_CallMethodNoArgs(ks, s_now);
            if (now == NULL) {
                Py_DECREF(b);
                goto done;
            }
            t = PyObject_RichCompareBool(b, now, Py_LE);
            Py_DECREF(now);
            Py_DECREF(b);
            if (t < 0) goto done;
            FAIL_IF(t); /* expired: deleted on the full road */
        }
        value = Py_XNewRef(SLOT(row, o_value));
        FAIL_IF(value == NULL || !PyBytes_CheckExact(value)
                || PyBytes_GET_SIZE(value) > REPLY_BUF - 32);
    }
    v = PyObject_CallMethodNoArgs(transport, s_is_closing);
    if (v == NULL) goto done;
    t = PyObject_IsTrue(v);
    Py_CLEAR(v);
    if (t < 0) goto done;
    FAIL_IF(t);

    /* ---- every check passed: from here on the request is served ---- */
    v = PyFloat_FromDouble(seconds(CLOCK_REALTIME));
    if (v == NULL) goto done;
    t = PyDict_SetItem(cd, s_last_interaction, v);
    if (t == 0 && row != Py_None)
        set_slot(row, o_atime, v);
    Py_CLEAR(v);
    if (t < 0) goto done;
    set_slot(parser, o_authenticated, authenticated);
    if (gadd(ks, row == Py_None ? s_misses : s_hits, g_one) < 0) goto done;

    if (row == Py_None) {
        reply = Py_NewRef(resp == 3 ? g_resp3_null : g_resp2_null);
    } else {
        Py_ssize_t vlen = PyBytes_GET_SIZE(value);
        char head[32];
        int hl = bulk_header(head, vlen);
        reply = PyBytes_FromStringAndSize(NULL, hl + vlen + 2);
        if (reply == NULL) goto done;
        char *out = PyBytes_AS_STRING(reply);
        memcpy(out, head, hl);
        memcpy(out + hl, PyBytes_AS_STRING(value), vlen);
        out[hl + vlen] = '\r';
        out[hl + vlen + 1] = '\n';
    }

    /* execute()'s bookkeeping for a cached read, in its order */
    usecobj = PyLong_FromLong((long)((seconds(CLOCK_MONOTONIC) - start) * 1000000.0));
    if (usecobj == NULL) goto done;
    if (slot_add(cmd, o_calls, g_one) < 0 || slot_add(cmd, o_usec, usecobj) < 0) goto done;
    TRUTH(truth(dattr(server, sd, s_latency_tracking)));
    if (t) {
        PyObject *lat = SLOT(cmd, o_latency);
        if (lat != NULL && PyDict_CheckExact(lat)) {
            PyObject *old = PyDict_GetItemWithError(lat, usecobj);
            if (old == NULL && PyErr_Occurred()) goto done;
            v = old != NULL ? PyNumber_Add(old, g_one) : Py_NewRef(g_one);
            if (v == NULL || PyDict_SetItem(lat, usecobj, v) < 0) goto done;
            Py_CLEAR(v);
        }
    }
    b = SLOT(cmd, o_fullname);
    if (b != NULL && PyDict_SetItem(cd, s_last_cmd, b) < 0) goto done;
    v = dattr(server, sd, s_slow_at);
    if (v == NULL) goto done;
    t = PyObject_RichCompareBool(usecobj, v, Py_GE);
    Py_CLEAR(v);
    if (t < 0) goto done;
    if (t) { /* SLOWLOG and LATENCY, in Python: rare */
        PyObject *argv = PyList_New(2);
        if (argv == NULL) goto done;
        PyList_SET_ITEM(argv, 0, Py_NewRef(spelling));
        PyList_SET_ITEM(argv, 1, Py_NewRef(key));
        v = PyObject_CallFunctionObjArgs(g_slow, server, client, cmd, argv, usecobj, NULL);
        Py_DECREF(argv);
        if (v == NULL) goto done;
        Py_CLEAR(v);
    }

    g_served++;
    *reply_out = reply;
    reply = NULL;
    result = 1;

done:
#undef FAIL_IF
#undef TRUTH
#undef FAIL_IF_ANY_SET
    Py_XDECREF(v);
    Py_XDECREF(spelling);
    Py_XDECREF(key);
    Py_XDECREF(ck);
    Py_XDECREF(reply);
    Py_XDECREF(cd);
    Py_XDECREF(sd);
    Py_XDECREF(ks);
    Py_XDECREF(cache);
    Py_XDECREF(engine);
    Py_XDECREF(usecobj);
    Py_XDECREF(row);
    Py_XDECREF(value);
    Py_XDECREF(transport);
    Py_XDECREF(client);
    Py_XDECREF(server);
    Py_XDECREF(parser);
    Py_XDECREF(cmd);
    Py_XDECREF(authenticated);
    return result;
}

/* A read: the GETs at its start served here, in order; whatever follows them (another
 * command, a partial request) goes to _data_received after their replies are queued,
 * exactly where the Python road would have put them. 1 = the whole read served,
 * 0 = none of it, 2 = a prefix (the rest already handed on), -1 = error. */
static int
serve_gets(PyObject *self, PyObject *stats, PyObject *data)
{
    if (!PyBytes_CheckExact(data))
        return 0;
    const char *p = PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data), at = 0, keyat, keylen, reqlen;
    PyObject *first = NULL, *replies = NULL, *joined = NULL, *v = NULL;
    PyObject *num = NULL, *transport = NULL;
    int result = -1;

    while (at < len && (reqlen = parse_get(p + at, len - at, &keyat, &keylen)) > 0) {
        PyObject *reply = NULL;
        int r = serve_one(self, p + at, reqlen, keyat, keylen, &reply);
        if (r < 0)
            goto done;
        if (r == 0)
            break;
        if (first == NULL) {
            first = reply;
        } else { /* a pipeline: the replies are joined into one write */
            if (replies == NULL && (replies = PyList_New(1)) != NULL)
                PyList_SET_ITEM(replies, 0, Py_NewRef(first));
            int a = replies == NULL ? -1 : PyList_Append(replies, reply);
            Py_DECREF(reply);
            if (a < 0)
                goto done;
        }
        at += reqlen;
    }
    if (at == 0) {
        result = 0;
        goto done;
    }

    /* data_received's own effects for the bytes served */
    num = PyLong_FromSsize_t(at);
    if (num == NULL || gadd(stats, s_net_input, num) < 0) goto done;
    Py_CLEAR(num);
    if (replies != NULL) {
        PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
        if (empty == NULL) goto done;
        joined = _PyBytes_Join(empty, replies);
        Py_DECREF(empty);
        if (joined == NULL) goto done;
    } else {
        joined = Py_NewRef(first);
    }
    Py_ssize_t n = PyBytes_GET_SIZE(joined);
    if (at == len && n <= REPLY_BUF) {
        /* _write_out: straight to the transport (serve_one saw no batch open) */
        transport = Py_XNewRef(SLOT(self, o_transport));
        if (transport == NULL) goto done;
        v = PyObject_CallMethodOneArg(transport, s_write, joined);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        num = PyLong_FromSsize_t(n);
        if (num == NULL || gadd(stats, s_net_output, num) < 0
            || gadd(stats, s_io_writes, g_one) < 0)
            goto done;
        result = 1;
        goto done;
    }
    /* queued as the Python road queues replies; then the rest of the read, or _flush
     * (which checks client-output-buffer-limit for what is over the static buffer) */
    PyObject *out = SLOT(self, o_out);
    if (out == NULL || !PyList_Check(out) || PyList_Append(out, joined) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "connection without an output list");
        goto done;
    }
    if (at == len) {
        v = PyObject_CallMethodNoArgs(self, s__flush);
    } else {
        PyObject *rest = PyBytes_FromStringAndSize(p + at, len - at);
        if (rest == NULL) goto done;
        v = PyObject_CallMethodOneArg(self, s__data_received, rest);
        Py_DECREF(rest);
    }
    if (v == NULL) goto done;
    Py_CLEAR(v);
    result = at == len ? 1 : 2;

done:
    Py_XDECREF(first);
    Py_XDECREF(replies);
    Py_XDECREF(joined);
    Py_XDECREF(v);
    Py_XDECREF(num);
    Py_XDECREF(transport);
    return result;
}

static PyObject *
Lane_data_received(PyObject *self, PyObject *data)
{
    PyObject *server = t_conn != NULL && PyObject_TypeCheck(self, t_conn)
                           ? SLOT(self, o_server) : NULL;
    if (server != NULL) {
        PyObject *stats = PyObject_GetAttr(server, s_stats);
        if (stats == NULL)
            return NULL;
        /* INFO total_reads_processed: every read, whichever road serves it */
        int r = gadd(stats, s_io_reads, g_one);
        if (r == 0 && g_plain != NULL)
            r = serve_gets(self, stats, data);
        Py_DECREF(stats);
        if (r > 0)
            Py_RETURN_NONE;
        if (r < 0 || PyErr_Occurred())
            return NULL;
    }
    return PyObject_CallMethodOneArg(self, s__data_received, data);
}

static PyMethodDef Lane_methods[] = {
    {"data_received", (PyCFunction)Lane_data_received, METH_O,
     "asyncio.Protocol.data_received: a lone cached GET served here, the rest by "
     "_data_received."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LaneType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "aki._lane.Lane",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Base of RespConnection: the GET lane in C.",
    .tp_methods = Lane_methods,
    .tp_new = PyType_GenericNew,
};

static PyObject *
configure(PyObject *mod, PyObject *args)
{
    PyObject *plain, *get_cached, *slow;
    PyTypeObject *conn, *parser, *command, *row;
    if (!PyArg_ParseTuple(args, "O!OOO!O!O!O!", &PyDict_Type, &plain, &get_cached, &slow,
                          &PyType_Type, &conn, &PyType_Type, &parser, &PyType_Type, &command,
                          &PyType_Type, &row))
        return NULL;
    const SlotSpec conn_slots[] = {
        {"closing", &o_closing}, {"client", &o_client}, {"server", &o_server},
        {"parser", &o_parser}, {"suspended", &o_suspended}, {"pending", &o_pending},
        {"holding", &o_holding}, {"engine", &o_engine}, {"out", &o_out},
        {"backlogged", &o_backlogged}, {"transport", &o_transport}, {NULL, NULL}};
    const SlotSpec parser_slots[] = {
        {"_python", &o_python}, {"paused", &o_paused}, {"authenticated", &o_authenticated},
        {"max_bulk_len", &o_max_bulk_len}, {NULL, NULL}};
    const SlotSpec command_slots[] = {
        {"cached_read", &o_cached_read}, {"calls", &o_calls}, {"usec", &o_usec},
        {"latency", &o_latency}, {"fullname", &o_fullname}, {NULL, NULL}};
    const SlotSpec row_slots[] = {
        {"type", &o_type}, {"expire_at", &o_expire_at}, {"value", &o_value},
        {"atime", &o_atime}, {NULL, NULL}};
    if (slot_offsets(conn, conn_slots) < 0 || slot_offsets(parser, parser_slots) < 0
        || slot_offsets(command, command_slots) < 0 || slot_offsets(row, row_slots) < 0)
        return NULL;
    Py_XSETREF(t_conn, (PyTypeObject *)Py_NewRef(conn));
    Py_XSETREF(t_parser, (PyTypeObject *)Py_NewRef(parser));
    Py_XSETREF(t_command, (PyTypeObject *)Py_NewRef(command));
    Py_XSETREF(t_row, (PyTypeObject *)Py_NewRef(row));
    Py_XSETREF(g_get_cached, Py_NewRef(get_cached));
    Py_XSETREF(g_slow, Py_NewRef(slow));
    Py_XSETREF(g_plain, Py_NewRef(plain));
    Py_RETURN_NONE;
}

static PyObject *
enabled(PyObject *mod, PyObject *unused)
{
    return PyBool_FromLong(g_plain != NULL);
}

static PyObject *
served(PyObject *mod, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(g_served);
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(plain, get_cached, slow, conn_type, parser_type, command_type, row_type): "
     "the registry's spelling table, GET's cached_read, dispatch._slow and the classes "
     "whose slots the lane reads; the lane is off until called."},
    {"enabled", enabled, METH_NOARGS, "Is the lane configured (AKI_LANE=0 leaves it off)?"},
    {"served", served, METH_NOARGS, "How many GETs the lane has answered since start."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef lanemodule = {
    PyModuleDef_HEAD_INIT, "aki._lane", "The GET lane, compiled (see _lane.c).", -1,
    module_methods,
};

#define INTERN(var, text)                                  \
    do {                                                   \
        var = PyUnicode_InternFromString(text);            \
        if (var == NULL) return NULL;                      \
    } while (0)

PyMODINIT_FUNC
PyInit__lane(void)
{
    INTERN(s_in_tx, "in_tx");
    INTERN(s_is_closing, "is_closing");
    INTERN(s_write, "write");
    INTERN(s_authenticated, "authenticated");
    INTERN(s_paused_until, "paused_until");
    INTERN(s_in_multi, "in_multi");
    INTERN(s_resp, "resp");
    INTERN(s_channels, "channels");
    INTERN(s_patterns, "patterns");
    INTERN(s_shard_channels, "shard_channels");
    INTERN(s_extensions, "extensions");
    INTERN(s_state_guards, "state_guards");
    INTERN(s_monitors, "monitors");
    INTERN(s_after_read, "after_read");
    INTERN(s_reply_mode, "reply_mode");
    INTERN(s_close_after_reply, "close_after_reply");
    INTERN(s_deferred_pushes, "deferred_pushes");
    INTERN(s_ks, "ks");
    INTERN(s_fresh, "fresh");
    INTERN(s_lfu, "lfu");
    INTERN(s_cache, "cache");
    INTERN(s_db, "db");
    INTERN(s_now, "now");
    INTERN(s_last_interaction, "last_interaction");
    INTERN(s_stats, "stats");
    INTERN(s_net_input, "net_input");
    INTERN(s_net_output, "net_output");
    INTERN(s_misses, "misses");
    INTERN(s_hits, "hits");
    INTERN(s_latency_tracking, "latency_tracking");
    INTERN(s_last_cmd, "last_cmd");
    INTERN(s_slow_at, "slow_at");
    INTERN(s__data_received, "_data_received");
    INTERN(s_refresh, "refresh");
    INTERN(s__flush, "_flush");
    INTERN(s_no_touch, "no_touch");
    INTERN(s_io_reads, "io_reads");
    INTERN(s_io_writes, "io_writes");
    g_one = PyLong_FromLong(1);
    if (g_one == NULL)
        return NULL;
    INTERN(g_on, "on");
    INTERN(g_guard, "guard");
    g_GET = PyBytes_FromString("GET");
    g_get = PyBytes_FromString("get");
    g_resp2_null = PyBytes_FromString("$-1\r\n");
    g_resp3_null = PyBytes_FromString("_\r\n");
    if (!g_GET || !g_get || !g_resp2_null || !g_resp3_null)
        return NULL;
    if (PyType_Ready(&LaneType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&lanemodule);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Lane", (PyObject *)&LaneType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
