/* aki._lane: the lane, compiled: GET of a cached row, plain SET, single-element collection
 * writes, LRANGE and ZRANGEBYSCORE.
 *
 * Why: under `redis-benchmark -c 50 -P 1` nearly every read holds one request, and the
 * interpreter was most of aki's own cost per request: for a GET whose row is in the row
 * cache (data_received -> parser.feed -> execute()'s cached-read branch -> read_string
 * -> encode -> _flush) about 5 us of ~22, for a SET about 18 us of ~41 (the rest is the
 * kernel's socket work, uvloop and SQLite). This file is the same road for those cases,
 * in C, with the same effects: INFO stats (net_input/net_output, keyspace hits/misses,
 * commandstats, the latency histogram, dirty), SLOWLOG through dispatch._slow, the
 * client's last_interaction and last_cmd, the row's access time, and for a SET the
 * batch's transaction, the touch hooks (WATCH, blocked clients, tracking), propagation
 * (AOF, replicas) and the after-command hooks, called as call() calls them. The same
 * for the single-element collection writes redis-benchmark drives (HSET, ZADD, SADD,
 * LPUSH, RPUSH, LPOP, RPOP: serve_cwrite), LRANGE (serve_lrange) and ZRANGEBYSCORE
 * (serve_zrangebyscore) on a cached collection, with the storage modules' own statements. Every
 * other plain command that connection.lane_ok accepts is parsed here, checked as
 * execute()'s plain branch checks it, and run by dispatch.call() itself (serve_call):
 * the parser and the connection's Python are skipped, not the command's road. And the
 * committer's release() of held replies, for the common case.
 *
 * It is not a second road: every state that makes the Python road do anything else
 * (MULTI, pub/sub context, ACL guard, replication guards, monitors, tracking of reads,
 * CLIENT PAUSE/REPLY/NO-TOUCH, keyspace events, a suspended or split request, a row not
 * cached, expired, with a TTL, of another type or encoding, LFU policy, a value over a
 * bound ...) is checked first, with no side effect, and hands the request and the rest
 * of the read to `RespConnection._data_received` unchanged. A SET (or a collection
 * command) may have opened the batch's transaction before it falls back, exactly as
 * call() would have.
 *
 * Durability invariants (what a crash can and cannot leave behind), the committer's:
 *  - a SET's reply (a collection command's) is queued on the connection and handed to
 *    _flush, which holds it while the batch is open: no client hears OK before the
 *    COMMIT that covers it;
 *  - a GET is answered only when no batch is open, so it never shows a write a crash
 *    could take back;
 *  - a statement that fails (apsw.Error) changed nothing; the request goes to the
 *    Python road, which runs it again and, if it fails again, fails the batch as call()
 *    does (rolled back whole, every held reply an error). Only a failure before the
 *    command's write is handed on so: after it, the error is the caller's, as an
 *    exception in call()'s hooks would be.
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
static PyObject *g_set_handler; /* strings.set_: the SET command's handler */
static PyObject *g_lazy_row;   /* keyspace.LazyIdRow */
static PyObject *g_update_sql, *g_upsert_sql; /* Keyspace.set_string's two statements */
static PyObject *g_apsw_error; /* apsw.Error: a failed statement, retried in Python */
static PyObject *g_call;       /* dispatch.call(client, cmd, argv) */
static PyObject *g_encode;     /* encoder.encode(value, resp3) */
static PyObject *g_lane_ok;    /* connection.lane_ok(cmd): may the lane call() it? */
static PyObject *g_suspend;    /* blocking.Suspend */
static PyObject *g_lane_cmds;  /* Command -> lane_ok(Command), filled as they come */
/* configure_writes(): the handlers and storage statements of the collection commands the
 * lane runs itself (serve_cwrite, serve_lrange), and sets.mhash */
static PyObject *g_hset_handler, *g_zadd_handler, *g_lpush_handler, *g_rpush_handler,
    *g_lpop_handler, *g_rpop_handler, *g_mhash, *g_hset_insert, *g_hset_update, *g_zadd_update,
    *g_zadd_insert, *g_list_get, *g_list_insert, *g_list_delete, *g_lrange_handler,
    *g_list_range, *g_zrangebyscore_handler, *g_zrange_score, *g_sadd_handler, *g_sadd_insert;
static PyObject *joined_array(PyObject *mod, PyObject *const *args, Py_ssize_t nargs);

static unsigned long long g_served;     /* GETs answered here (INFO aki_get_lane_served) */
static unsigned long long g_served_set; /* SETs (INFO aki_set_lane_served) */
static unsigned long long g_served_call; /* other commands (INFO aki_call_lane_served) */
/* single-element collection writes, LRANGEs, ZRANGEBYSCOREs (INFO
 * aki_collection_lane_served) */
static unsigned long long g_served_collection;

static PyObject *g_GET, *g_get, *g_SET, *g_set; /* the usual spellings, shared */
static PyObject *g_on, *g_guard, *g_resp3_null, *g_resp2_null, *g_one, *g_zero, *g_ok;
static PyObject *g_int0, *g_int1; /* the replies ":0" and ":1" */

/* interned attribute names (of the dict-backed objects, and methods) */
static PyObject *s_in_tx, *s_is_closing, *s_write, *s_authenticated, *s_paused_until,
    *s_in_multi, *s_resp, *s_channels, *s_patterns, *s_shard_channels, *s_extensions,
    *s_state_guards, *s_monitors, *s_after_read, *s_reply_mode, *s_close_after_reply,
    *s_deferred_pushes, *s_ks, *s_fresh, *s_lfu, *s_cache, *s_db, *s_now,
    *s_last_interaction, *s_stats, *s_net_input, *s_net_output, *s_misses, *s_hits,
    *s_latency_tracking, *s_last_cmd, *s_slow_at, *s__data_received, *s_refresh,
    *s__flush, *s_no_touch, *s_io_reads, *s_io_writes, *s_call_depth, *s_propagation,
    *s_notify_enabled, *s_touched, *s_events, *s_begin, *s_request_commit, *s_cur,
    *s_writing, *s_execute, *s_conn, *s_set_last_insert_rowid, *s_dbmap, *s_clock,
    *s_changes, *s_last_insert_rowid, *s_cache_entries, *s__remember, *s_dirty,
    *s_touch_hooks, *s_propagators, *s_propagate, *s_after_command, *s__release,
    *s__finish, *s_config, *s_pending_meta, *s_hash_max_listpack_value,
    *s_hash_max_listpack_entries, *s_zset_max_listpack_value, *s_zset_max_listpack_entries,
    *s_fetchone, *s_set_max_intset_entries;

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
    o_expire_at, o_value, o_atime, o_handler, o_enc, o_id, o_arity, o_len, o_head;

/* Keyspace.set_string leaves values over this out of the row cache (keyspace.BIG_VALUE) */
#define BIG_VALUE (64 * 1024)

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

/* o.name += n */
static int
add_ssize(PyObject *o, PyObject *name, Py_ssize_t n)
{
    PyObject *d = PyLong_FromSsize_t(n);
    if (d == NULL)
        return -1;
    int r = gadd(o, name, d);
    Py_DECREF(d);
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

/* A bulk string `$<n>\r\n<bytes>\r\n` at p[i:len]: the index after it, its bytes at
 * *at and *n; -1 when p[i:len] does not hold one whole canonical bulk. */
static Py_ssize_t
parse_bulk(const char *p, Py_ssize_t len, Py_ssize_t i, Py_ssize_t *at, Py_ssize_t *n)
{
    Py_ssize_t v = 0;
    if (i >= len || p[i] != '$')
        return -1;
    i++;
    if (i < len && p[i] == '0') {
        i++;
    } else {
        int digits = 0;
        while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 10) {
            v = v * 10 + (p[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || digits == 10)
            return -1;
    }
    if (i + 2 > len || p[i] != '\r' || p[i + 1] != '\n')
        return -1;
    i += 2;
    if (i + v + 2 > len || p[i + v] != '\r' || p[i + v + 1] != '\n')
        return -1;
    *at = i;
    *n = v;
    return i + v + 2;
}

/* A canonical `*<argc>\r\n$3\r\n<name>\r\n` (name: three letters, any case) followed by
 * argc - 1 bulks at the start of p[0:len]: the request's length, its arguments' offsets
 * and lengths in at[] and n[]; -1 when p does not start with one whole such request. */
static Py_ssize_t
parse_request(const char *p, Py_ssize_t len, char argc, const char *name,
              Py_ssize_t *at, Py_ssize_t *n)
{
    if (len < 13 || p[0] != '*' || p[1] != argc || memcmp(p + 2, "\r\n$3\r\n", 6) != 0)
        return -1;
    for (int k = 0; k < 3; k++)
        if ((p[8 + k] | 0x20) != name[k])
            return -1;
    if (p[11] != '\r' || p[12] != '\n')
        return -1;
    Py_ssize_t i = 13;
    for (int k = 0; k < argc - '1'; k++) {
        i = parse_bulk(p, len, i, &at[k], &n[k]);
        if (i < 0)
            return -1;
    }
    return i;
}

/* What both lanes read of a connection in its plain state (new references). */
typedef struct {
    PyObject *client, *cd, *server, *sd, *parser, *engine, *transport, *authenticated, *ks;
    long resp;
    int in_tx;
} Ctx;

static void
ctx_clear(Ctx *c)
{
    Py_CLEAR(c->client);
    Py_CLEAR(c->cd);
    Py_CLEAR(c->server);
    Py_CLEAR(c->sd);
    Py_CLEAR(c->parser);
    Py_CLEAR(c->engine);
    Py_CLEAR(c->transport);
    Py_CLEAR(c->authenticated);
    Py_CLEAR(c->ks);
}

/* The truth of a new reference; on error *t = -1 */
#define TRUTH(expr)                          \
    do {                                     \
        t = (expr);                          \
        if (t < 0) goto done;                \
    } while (0)
#define FAIL_IF(cond)                        \
    do {                                     \
        if (cond) { result = 0; goto done; } \
    } while (0)
/* not for the lane when any of the attributes `names` (NULL-ended) of o is truthy */
#define FAIL_IF_ANY_SET(o, d, names)                         \
    do {                                                     \
        for (PyObject ***n_ = (names); *n_ != NULL; n_++) {  \
            TRUTH(truth(dattr((o), (d), **n_)));             \
            FAIL_IF(t);                                      \
        }                                                    \
    } while (0)

/* Is this connection in the state where the Python road would run a request of `len`
 * bytes straight through execute()'s plain branch? 1 = yes (c filled), 0 = no, -1 =
 * error. Nothing is changed. */
static int
ctx_check(PyObject *self, Ctx *c, Py_ssize_t len)
{
    int result = -1, t;
    PyObject *b;

    /* the connection: open, nothing queued or suspended */
    FAIL_IF(SLOT(self, o_closing) != Py_False);
    FAIL_IF(SLOT(self, o_suspended) != Py_None);
    b = SLOT(self, o_pending);
    FAIL_IF(b == NULL);
    TRUTH(PyObject_IsTrue(b));
    FAIL_IF(t);
    FAIL_IF(SLOT(self, o_backlogged) != Py_False);
    b = SLOT(self, o_out);
    FAIL_IF(b == NULL || !PyList_CheckExact(b));
    c->transport = Py_XNewRef(SLOT(self, o_transport));
    FAIL_IF(c->transport == NULL || c->transport == Py_None);
    c->engine = Py_XNewRef(SLOT(self, o_engine));
    FAIL_IF(c->engine == NULL);
    TRUTH(truth(PyObject_GetAttr(c->engine, s_in_tx)));
    c->in_tx = t;

    /* the parser: on a request boundary, in hiredis's hands */
    c->parser = Py_XNewRef(SLOT(self, o_parser));
    FAIL_IF(c->parser == NULL || !Py_IS_TYPE(c->parser, t_parser));
    FAIL_IF(SLOT(c->parser, o_python) != Py_False || SLOT(c->parser, o_paused) != Py_False);
    b = SLOT(c->parser, o_max_bulk_len);
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
    c->client = Py_XNewRef(SLOT(self, o_client));
    FAIL_IF(c->client == NULL);
    c->cd = PyObject_GenericGetDict(c->client, NULL);
    if (c->cd == NULL) goto done;
    c->authenticated = Py_XNewRef(PyDict_GetItemWithError(c->cd, s_authenticated));
    FAIL_IF(c->authenticated == NULL);
    TRUTH(PyObject_IsTrue(c->authenticated));
    FAIL_IF(!t);
    /* MULTI, CLIENT NO-TOUCH (no access time may move), a closing client, tracking
     * pushes waiting behind the reply */
    PyObject **client_unset[] = {&s_in_multi, &s_no_touch, &s_close_after_reply,
                                 &s_deferred_pushes, NULL};
    FAIL_IF_ANY_SET(c->client, c->cd, client_unset);
    b = PyDict_GetItemWithError(c->cd, s_reply_mode);
    FAIL_IF(b == NULL);
    if (b != g_on) {
        TRUTH(PyObject_RichCompareBool(b, g_on, Py_EQ));
        FAIL_IF(!t);
    }
    b = PyDict_GetItemWithError(c->cd, s_resp);
    FAIL_IF(b == NULL || !PyLong_CheckExact(b));
    c->resp = PyLong_AsLong(b);
    if (c->resp == 2) { /* RESP2 subscribers may only (un)subscribe, PING ... */
        PyObject **subscriptions[] = {&s_channels, &s_patterns, &s_shard_channels, NULL};
        FAIL_IF_ANY_SET(c->client, c->cd, subscriptions);
    }

    /* the server: nothing that watches or refuses commands */
    c->server = Py_XNewRef(SLOT(self, o_server));
    FAIL_IF(c->server == NULL);
    c->sd = PyObject_GenericGetDict(c->server, NULL);
    if (c->sd == NULL) goto done;
    /* CLIENT PAUSE, replication's refusals (NOREPLICAS, READONLY ...), MONITOR,
     * tracking (client-side caching remembers reads) */
    PyObject **server_unset[] = {&s_paused_until, &s_state_guards, &s_monitors,
                                 &s_after_read, NULL};
    FAIL_IF_ANY_SET(c->server, c->sd, server_unset);
    b = PyDict_GetItemWithError(c->sd, s_extensions);
    FAIL_IF(b == NULL || !PyDict_CheckExact(b));
    TRUTH(PyDict_Contains(b, g_guard));
    FAIL_IF(t);
    c->ks = dattr(c->server, c->sd, s_ks);
    if (c->ks == NULL) goto done;
    result = 1;
done:
    return result;
}

/* The Command registered under this spelling (p[0:3]), if it is still `name`'s (no
 * rename-command): a new reference, NULL with no error set when it is not. */
static PyObject *
plain_command(const char *p, PyObject *upper, PyObject *lower, PyObject **spelling)
{
    if (memcmp(p, PyBytes_AS_STRING(upper), 3) == 0) {
        *spelling = Py_NewRef(upper);
    } else if (memcmp(p, PyBytes_AS_STRING(lower), 3) == 0) {
        *spelling = Py_NewRef(lower);
    } else {
        *spelling = PyBytes_FromStringAndSize(p, 3);
        if (*spelling == NULL)
            return NULL;
    }
    PyObject *cmd = Py_XNewRef(PyDict_GetItemWithError(g_plain, *spelling));
    if (cmd != NULL && !Py_IS_TYPE(cmd, t_command))
        Py_CLEAR(cmd);
    return cmd;
}

/* execute()/call()'s bookkeeping after a command ran for `usec`, in their order:
 * commandstats, the latency histogram, last_cmd, SLOWLOG/LATENCY (dispatch._slow, given
 * `argv`, or [spelling, key] when it is NULL). */
static int
count_call(Ctx *c, PyObject *cmd, PyObject *spelling, PyObject *key, PyObject *argv,
           double start)
{
    int t;
    PyObject *v = NULL, *b;
    PyObject *usecobj = PyLong_FromLong((long)((seconds(CLOCK_MONOTONIC) - start) * 1000000.0));
    if (usecobj == NULL)
        return -1;
    int result = -1;
    if (slot_add(cmd, o_calls, g_one) < 0 || slot_add(cmd, o_usec, usecobj) < 0) goto done;
    TRUTH(truth(dattr(c->server, c->sd, s_latency_tracking)));
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
    if (b != NULL && PyDict_SetItem(c->cd, s_last_cmd, b) < 0) goto done;
    v = dattr(c->server, c->sd, s_slow_at);
    if (v == NULL) goto done;
    t = PyObject_RichCompareBool(usecobj, v, Py_GE);
    Py_CLEAR(v);
    if (t < 0) goto done;
    if (t) { /* SLOWLOG and LATENCY, in Python: rare */
        PyObject *args = argv != NULL ? Py_NewRef(argv) : PyList_New(2);
        if (args == NULL) goto done;
        if (argv == NULL) {
            PyList_SET_ITEM(args, 0, Py_NewRef(spelling));
            PyList_SET_ITEM(args, 1, Py_NewRef(key));
        }
        v = PyObject_CallFunctionObjArgs(g_slow, c->server, c->client, cmd, args, usecobj, NULL);
        Py_DECREF(args);
        if (v == NULL) goto done;
        Py_CLEAR(v);
    }
    result = 0;
done:
    Py_XDECREF(v);
    Py_DECREF(usecobj);
    return result;
}

/* The request's effects on the client before it runs (as _data_received's). */
static int
interaction(PyObject *self, Ctx *c, double now)
{
    PyObject *v = PyFloat_FromDouble(now);
    if (v == NULL)
        return -1;
    int t = PyDict_SetItem(c->cd, s_last_interaction, v);
    Py_DECREF(v);
    if (t < 0)
        return -1;
    set_slot(c->parser, o_authenticated, c->authenticated);
    return 0;
}

/* One GET, the request p[0:len] (its key at p[keyat:keyat+keylen]): 1 = served, its
 * reply in *reply_out (counted and logged, not yet written); 0 = not for the lane
 * (nothing changed); -1 = error. The read's own effects (net_input, the write,
 * net_output) are the caller's. */
static int
serve_get(PyObject *self, const char *p, Py_ssize_t len, Py_ssize_t keyat,
          Py_ssize_t keylen, PyObject **reply_out)
{
    int result = -1, t;
    PyObject *b, *v = NULL, *spelling = NULL, *key = NULL, *ck = NULL, *reply = NULL;
    PyObject *cache = NULL, *row = NULL, *value = NULL, *cmd = NULL;
    Ctx c = {0};
    double start = seconds(CLOCK_MONOTONIC);

    t = ctx_check(self, &c, len);
    if (t <= 0) {
        result = t;
        goto done;
    }
    /* a read answers now: not held behind an open batch, nothing queued before it */
    FAIL_IF(c.in_tx || SLOT(self, o_holding) != Py_False
            || PyList_GET_SIZE(SLOT(self, o_out)) != 0);

    /* the command: GET under this spelling, still the GET (rename-command) */
    cmd = plain_command(p + 8, g_GET, g_get, &spelling);
    if (cmd == NULL) {
        if (!PyErr_Occurred()) result = 0;
        goto done;
    }
    FAIL_IF(SLOT(cmd, o_cached_read) != g_get_cached);

    /* the row cache: a current cache, the key cached, a live string */
    TRUTH(truth(PyObject_GetAttr(c.ks, s_fresh)));
    if (!t) {
        /* the first cached read of this loop iteration: Keyspace.refresh() looks for
         * another process's commit, as read_string would before its lookup */
        TRUTH(truth(PyObject_CallMethodNoArgs(c.ks, s_refresh)));
        FAIL_IF(!t);
    }
    TRUTH(truth(PyObject_GetAttr(c.ks, s_lfu)));
    FAIL_IF(t);
    cache = PyObject_GetAttr(c.ks, s_cache);
    if (cache == NULL) goto done;
    FAIL_IF(!PyDict_CheckExact(cache));
    b = PyDict_GetItemWithError(c.cd, s_db);
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
            PyObject *now = PyObject_CallMethodNoArgs(c.ks, s_now);
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
    TRUTH(truth(PyObject_CallMethodNoArgs(c.transport, s_is_closing)));
    FAIL_IF(t);

    /* ---- every check passed: from here on the request is served ---- */
    {
        double now = seconds(CLOCK_REALTIME);
        if (interaction(self, &c, now) < 0) goto done;
        if (row != Py_None) {
            v = PyFloat_FromDouble(now);
            if (v == NULL) goto done;
            set_slot(row, o_atime, v);
            Py_CLEAR(v);
        }
    }
    if (gadd(c.ks, row == Py_None ? s_misses : s_hits, g_one) < 0) goto done;

    if (row == Py_None) {
        reply = Py_NewRef(c.resp == 3 ? g_resp3_null : g_resp2_null);
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
    /* execute()'s bookkeeping for a cached read */
    if (count_call(&c, cmd, spelling, key, NULL, start) < 0) goto done;
    g_served++;
    *reply_out = reply;
    reply = NULL;
    result = 1;

done:
    Py_XDECREF(v);
    Py_XDECREF(spelling);
    Py_XDECREF(key);
    Py_XDECREF(ck);
    Py_XDECREF(reply);
    Py_XDECREF(cache);
    Py_XDECREF(row);
    Py_XDECREF(value);
    Py_XDECREF(cmd);
    ctx_clear(&c);
    return result;
}

/* Call `hooks` (a list or tuple of callables) with args; -1 on error. */
static int
call_hooks(PyObject *hooks, PyObject *a, PyObject *b)
{
    PyObject *seq = PySequence_Fast(hooks, "hooks must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *h = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *r = a == NULL ? PyObject_CallNoArgs(h)
                                : PyObject_CallFunctionObjArgs(h, a, b, NULL);
        if (r == NULL) {
            Py_DECREF(seq);
            return -1;
        }
        Py_DECREF(r);
    }
    Py_DECREF(seq);
    return 0;
}

/* call()'s state for a command the lane runs itself: top level, no rewrite pending; the
 * keyspace without events, NO-TOUCH or LFU bookkeeping, nothing touched. Then call()'s
 * first step: the batch's transaction, opened by its first command (`readonly`: the
 * command's is_readonly, as call() passes it). 1 = ready (the batch
 * open), 0 = not for the lane (nothing changed), -1 = error. */
static int
write_begin(Ctx *c, int readonly)
{
    int result = -1, t;
    PyObject *b, *v = NULL;
    b = PyDict_GetItemWithError(c->sd, s_call_depth);
    FAIL_IF(b == NULL || !PyLong_CheckExact(b) || PyLong_AsLong(b) != 0);
    b = PyDict_GetItemWithError(c->sd, s_propagation);
    FAIL_IF(b != Py_None);
    PyObject **ks_unset[] = {&s_notify_enabled, &s_no_touch, &s_lfu, &s_touched, &s_events,
                             NULL};
    for (PyObject ***nm = ks_unset; *nm != NULL; nm++) {
        TRUTH(truth(PyObject_GetAttr(c->ks, **nm)));
        FAIL_IF(t);
    }
    if (!c->in_tx) {
        v = PyObject_CallMethodOneArg(c->engine, s_begin, readonly ? Py_True : Py_False);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        v = dattr(c->server, c->sd, s_request_commit);
        if (v == NULL) goto done;
        Py_SETREF(v, PyObject_CallNoArgs(v));
        if (v == NULL) goto done;
        Py_CLEAR(v);
        c->in_tx = 1;
    }
    result = 1;
done:
    Py_XDECREF(v);
    return result;
}

/* call()'s epilogue after a command the lane ran: the touched key `ck` (NULL: the command
 * changed nothing, or read) counted in dirty and given to the touch hooks (WATCH, blocked
 * clients, tracking), `argv` propagated (AOF, replicas), the after-command hooks (blocked
 * clients served); then _finish's part: tracking invalidations of the caller's own write
 * follow its `reply`. *reply_out: the bytes to queue. 0 = done, -1 = error. */
static int
write_end(Ctx *c, PyObject *ck, PyObject *db, PyObject *argv, PyObject *reply,
          PyObject **reply_out)
{
    int result = -1, t;
    PyObject *v = NULL, *touched = NULL, *hooks = NULL;
    if (ck != NULL) {
        touched = PyList_New(1);
        if (touched == NULL) goto done;
        PyList_SET_ITEM(touched, 0, Py_NewRef(ck));
        v = dattr(c->server, c->sd, s_dirty);
        if (v == NULL) goto done;
        Py_SETREF(v, PyNumber_Add(v, g_one));
        if (v == NULL || PyDict_SetItem(c->sd, s_dirty, v) < 0) goto done;
        Py_CLEAR(v);
        hooks = dattr(c->server, c->sd, s_touch_hooks);
        if (hooks == NULL || call_hooks(hooks, touched, c->client) < 0) goto done;
        Py_CLEAR(hooks);
        TRUTH(truth(dattr(c->server, c->sd, s_propagators)));
        if (t) {
            v = PyObject_CallMethodObjArgs(c->server, s_propagate, db, argv, NULL);
            if (v == NULL) goto done;
            Py_CLEAR(v);
        }
    }
    hooks = dattr(c->server, c->sd, s_after_command);
    if (hooks == NULL || call_hooks(hooks, NULL, NULL) < 0) goto done;
    v = dattr(c->client, c->cd, s_deferred_pushes);
    if (v == NULL) goto done;
    TRUTH(PyObject_IsTrue(v));
    if (t) {
        PyObject *parts = PySequence_List(v);
        Py_CLEAR(v);
        if (parts == NULL || PyList_Insert(parts, 0, reply) < 0) {
            Py_XDECREF(parts);
            goto done;
        }
        PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
        *reply_out = empty == NULL ? NULL : _PyBytes_Join(empty, parts);
        Py_XDECREF(empty);
        Py_DECREF(parts);
        if (*reply_out == NULL) goto done;
        v = PyList_New(0);
        if (v == NULL || PyDict_SetItem(c->cd, s_deferred_pushes, v) < 0) goto done;
    } else {
        *reply_out = Py_NewRef(reply);
    }
    result = 0;
done:
    Py_XDECREF(v);
    Py_XDECREF(touched);
    Py_XDECREF(hooks);
    return result;
}

/* The end of a request the lane tried: a statement that failed (apsw.Error) before the
 * command's write or reply (`committed` 0) changed nothing, so the Python road runs the
 * request again and handles the failure as call() does (0); any other error stays one
 * (-1): after that point a second run would write, count or propagate twice. */
static int
handed_on(int result, int committed)
{
    if (result < 0 && !committed && PyErr_Occurred() && PyErr_ExceptionMatches(g_apsw_error)) {
        PyErr_Clear();
        return 0;
    }
    return result;
}

/* One `SET key value` (no options), the request p[0:len]: 1 = served, its reply in
 * *reply_out (counted, not yet written: it waits for the batch's COMMIT like every
 * write's); 0 = not for the lane (nothing changed but, perhaps, the batch's
 * transaction opened, which call() would open the same way); -1 = error.
 *
 * It is call() with strings.set_ and Keyspace.set_string for the two cases that are
 * nearly all of SET's: a live string row in the row cache (UPDATE by id), and a key
 * the cache does not know (one UPSERT). Every other case (a TTL to clear, another
 * encoding, a cached absence, a big value, keyspace events, LFU ...) takes the Python
 * road, checked before anything is written. */
static int
serve_set(PyObject *self, const char *p, Py_ssize_t len, Py_ssize_t *at, Py_ssize_t *n,
          PyObject **reply_out)
{
    int result = -1, t;
    PyObject *b, *v = NULL, *spelling = NULL, *key = NULL, *value = NULL, *ck = NULL;
    PyObject *cache = NULL, *row = NULL, *cmd = NULL, *cur = NULL, *argv = NULL;
    PyObject *conn = NULL, *rid = NULL, *pdb = NULL, *args = NULL;
    PyObject *newrow = NULL, *nowobj = NULL, *db = NULL;
    Ctx c = {0};
    int wrote = 0;

    FAIL_IF(n[1] > BIG_VALUE);
    t = ctx_check(self, &c, len);
    if (t <= 0) {
        result = t;
        goto done;
    }
    cmd = plain_command(p + 8, g_SET, g_set, &spelling);
    if (cmd == NULL) {
        if (!PyErr_Occurred()) result = 0;
        goto done;
    }
    FAIL_IF(SLOT(cmd, o_handler) != g_set_handler);
    t = write_begin(&c, 0);
    if (t <= 0) {
        result = t;
        goto done;
    }

    /* the row cache's view of the key (begin() may have dropped a stale cache) */
    cache = PyObject_GetAttr(c.ks, s_cache);
    if (cache == NULL) goto done;
    FAIL_IF(!PyDict_CheckExact(cache));
    db = Py_XNewRef(PyDict_GetItemWithError(c.cd, s_db));
    FAIL_IF(db == NULL || !PyLong_CheckExact(db));
    key = PyBytes_FromStringAndSize(p + at[0], n[0]);
    value = PyBytes_FromStringAndSize(p + at[1], n[1]);
    if (key == NULL || value == NULL) goto done;
    ck = PyTuple_Pack(2, db, key);
    if (ck == NULL) goto done;
    row = Py_XNewRef(PyDict_GetItemWithError(cache, ck));
    if (row == NULL && PyErr_Occurred()) goto done;
    if (row != NULL) {
        /* lookup() + set_string's in-place update of a live string without a TTL */
        FAIL_IF(!PyObject_TypeCheck(row, t_row));
        b = SLOT(row, o_type);
        FAIL_IF(b == NULL || !PyLong_CheckExact(b) || PyLong_AsLong(b) != 0);
        b = SLOT(row, o_enc);
        FAIL_IF(b == NULL || !PyLong_CheckExact(b) || PyLong_AsLong(b) != 0);
        FAIL_IF(SLOT(row, o_expire_at) != Py_None);
        rid = Py_XNewRef(SLOT(row, o_id)); /* unset in a LazyIdRow not yet asked */
        FAIL_IF(rid == NULL);
    }
    cur = PyObject_GetAttr(c.ks, s_cur);
    if (cur == NULL) goto done;

    /* ---- every check passed: from here on the request is served ---- */
    double now = seconds(CLOCK_REALTIME);
    if (interaction(self, &c, now) < 0) goto done;
    nowobj = PyFloat_FromDouble(now);
    if (nowobj == NULL) goto done;
    double start = seconds(CLOCK_MONOTONIC);
    if (PyObject_SetAttr(c.ks, s_writing, Py_True) < 0) goto done;
    if (row != NULL) {
        set_slot(row, o_atime, nowobj);
        args = PyTuple_Pack(2, value, rid);
        if (args == NULL) goto done;
        v = PyObject_CallMethodObjArgs(cur, s_execute, g_update_sql, args, NULL);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        set_slot(row, o_value, value);
    } else {
        /* set_string's one-statement UPSERT for a key the cache does not know */
        conn = PyObject_GetAttr(c.engine, s_conn);
        if (conn == NULL) goto done;
        v = PyObject_CallMethodOneArg(conn, s_set_last_insert_rowid, g_zero);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        v = PyObject_GetAttr(c.ks, s_dbmap);
        if (v == NULL) goto done;
        pdb = PyObject_GetItem(v, db);
        Py_CLEAR(v);
        if (pdb == NULL) goto done;
        v = PyObject_GetAttr(c.ks, s_clock);
        if (v == NULL) goto done;
        if (v == Py_None) {
            Py_SETREF(v, PyLong_FromLongLong((long long)(now * 1000)));
            if (v == NULL) goto done;
        }
        args = PyTuple_Pack(6, pdb, key, value, Py_None, g_zero, v);
        Py_CLEAR(v);
        if (args == NULL) goto done;
        v = PyObject_CallMethodObjArgs(cur, s_execute, g_upsert_sql, args, NULL);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        TRUTH(truth(PyObject_CallMethodNoArgs(conn, s_changes)));
        if (!t) {
            /* another type or an expired key: the Python road (nothing was written) */
            result = 0;
            goto done;
        }
        rid = PyObject_CallMethodNoArgs(conn, s_last_insert_rowid);
        if (rid == NULL) goto done;
        TRUTH(PyObject_IsTrue(rid));
        if (t) {
            v = Py_BuildValue("(OiOOiii)", rid, 0, value, Py_None, 0, 0, 0);
            if (v == NULL) goto done;
            newrow = PyObject_CallFunctionObjArgs((PyObject *)t_row, db, key, v, NULL);
        } else {
            newrow = PyObject_CallFunctionObjArgs(g_lazy_row, db, key, pdb, cur, value,
                                                  Py_None, g_zero, NULL);
        }
        Py_CLEAR(v);
        if (newrow == NULL) goto done;
        set_slot(newrow, o_atime, nowobj);
        v = PyObject_GetAttr(c.ks, s_cache_entries);
        if (v == NULL) goto done;
        Py_ssize_t limit = PyLong_AsSsize_t(v);
        Py_CLEAR(v);
        if (limit == -1 && PyErr_Occurred()) goto done;
        if (PyDict_GET_SIZE(cache) < limit) {
            if (PyDict_SetItem(cache, ck, newrow) < 0) goto done;
        } else {
            v = PyObject_CallMethodObjArgs(c.ks, s__remember, db, key, newrow, NULL);
            if (v == NULL) goto done;
            Py_CLEAR(v);
        }
    }
    wrote = 1; /* from here on a failure is not the Python road's to run again */
    argv = PyList_New(3);
    if (argv == NULL) goto done;
    PyList_SET_ITEM(argv, 0, Py_NewRef(spelling));
    PyList_SET_ITEM(argv, 1, Py_NewRef(key));
    PyList_SET_ITEM(argv, 2, Py_NewRef(value));
    if (count_call(&c, cmd, spelling, key, argv, start) < 0
        || write_end(&c, ck, db, argv, g_ok, reply_out) < 0)
        goto done;
    g_served_set++;
    result = 1;

done:
    Py_XDECREF(v);
    Py_XDECREF(spelling);
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_XDECREF(ck);
    Py_XDECREF(cache);
    Py_XDECREF(row);
    Py_XDECREF(cmd);
    Py_XDECREF(cur);
    Py_XDECREF(argv);
    Py_XDECREF(conn);
    Py_XDECREF(rid);
    Py_XDECREF(pdb);
    Py_XDECREF(args);
    Py_XDECREF(newrow);
    Py_XDECREF(nowobj);
    Py_XDECREF(db);
    ctx_clear(&c);
    return handed_on(result, wrote);
}

/* An int attribute of the server's config (hash-max-listpack-value ...); -1 on error. */
static long
config_long(Ctx *c, PyObject *name)
{
    PyObject *cfg = dattr(c->server, c->sd, s_config);
    if (cfg == NULL)
        return -1;
    PyObject *v = PyObject_GetAttr(cfg, name);
    Py_DECREF(cfg);
    if (v == NULL)
        return -1;
    long r = PyLong_AsLong(v);
    Py_DECREF(v);
    return r;
}

/* Redis's string2ll for the common spellings: an optional '-', then 1 to 18 digits
 * without a leading zero ("0" itself allowed, "-0" not). 0 = another spelling (the
 * Python road parses it, errors included). */
static int
plain_long(const char *p, Py_ssize_t n, long long *out)
{
    int neg = n > 0 && p[0] == '-';
    Py_ssize_t i = neg, digits = n - neg;
    if (digits < 1 || digits > 18 || (p[i] == '0' && (digits > 1 || neg)))
        return 0;
    long long v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* A ZADD score the lane parses itself: ASCII digits only, as string2d's own shortcut
 * (commands/zsets.py) takes them; strtod is exact for them, as float() is. 0 = another
 * form (the Python road parses it, errors included). */
static int
plain_score(const char *p, Py_ssize_t n, double *out)
{
    char buf[300];
    if (n < 1 || n >= 300)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    memcpy(buf, p, (size_t)n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 1;
}

/* cursor.execute(sql, args) and conn.changes(): 1 = a row changed, 0 = none, -1 = error */
static int
exec_changes(PyObject *cur, PyObject *conn, PyObject *sql, PyObject *args)
{
    if (args == NULL)
        return -1;
    PyObject *v = PyObject_CallMethodObjArgs(cur, s_execute, sql, args, NULL);
    Py_DECREF(args);
    if (v == NULL)
        return -1;
    Py_DECREF(v);
    return truth(PyObject_CallMethodNoArgs(conn, s_changes));
}

/* What serve_cwrite and the two range reads know before they act (new references). */
typedef struct {
    PyObject *spelling, *cmd, *db, *key, *ck, *row, *rid;
    long enc, length, head;
} Coll;

static void
coll_clear(Coll *w)
{
    Py_CLEAR(w->spelling);
    Py_CLEAR(w->cmd);
    Py_CLEAR(w->db);
    Py_CLEAR(w->key);
    Py_CLEAR(w->ck);
    Py_CLEAR(w->row);
    Py_CLEAR(w->rid);
}

/* The part of a collection command before its own work: ctx_check; the Command under
 * this spelling, still `handler`'s (rename-command); call()'s prologue (write_begin,
 * `readonly` as the command's is_readonly); the key's row: in the row cache, a live
 * collection of `type` without a TTL, its counters read into w. 1 = ready, 0 = not for
 * the lane (nothing changed but, perhaps, the batch opened), -1 = error. */
static int
coll_begin(PyObject *self, Ctx *c, Coll *w, const char *p, Py_ssize_t len, Py_ssize_t *at,
           Py_ssize_t *n, PyObject *handler, long type, int readonly)
{
    int result = -1, t;
    PyObject *b, *cache = NULL;

    t = ctx_check(self, c, len);
    if (t <= 0) {
        result = t;
        goto done;
    }
    w->spelling = PyBytes_FromStringAndSize(p + at[0], n[0]);
    if (w->spelling == NULL) goto done;
    w->cmd = Py_XNewRef(PyDict_GetItemWithError(g_plain, w->spelling));
    if (w->cmd == NULL) {
        if (!PyErr_Occurred()) result = 0; /* not seen yet: execute() learns it */
        goto done;
    }
    FAIL_IF(!Py_IS_TYPE(w->cmd, t_command) || SLOT(w->cmd, o_handler) != handler);
    t = write_begin(c, readonly);
    if (t <= 0) {
        result = t;
        goto done;
    }
    cache = PyObject_GetAttr(c->ks, s_cache);
    if (cache == NULL) goto done;
    FAIL_IF(!PyDict_CheckExact(cache));
    w->db = Py_XNewRef(PyDict_GetItemWithError(c->cd, s_db));
    FAIL_IF(w->db == NULL || !PyLong_CheckExact(w->db));
    w->key = PyBytes_FromStringAndSize(p + at[1], n[1]);
    if (w->key == NULL) goto done;
    w->ck = PyTuple_Pack(2, w->db, w->key);
    if (w->ck == NULL) goto done;
    w->row = Py_XNewRef(PyDict_GetItemWithError(cache, w->ck));
    if (w->row == NULL && PyErr_Occurred()) goto done;
    FAIL_IF(w->row == NULL || !PyObject_TypeCheck(w->row, t_row));
    b = SLOT(w->row, o_type);
    FAIL_IF(b == NULL || !PyLong_CheckExact(b) || PyLong_AsLong(b) != type);
    FAIL_IF(SLOT(w->row, o_expire_at) != Py_None);
    w->rid = Py_XNewRef(SLOT(w->row, o_id));
    FAIL_IF(w->rid == NULL || !PyLong_CheckExact(w->rid));
    Py_ssize_t offs[3] = {o_enc, o_len, o_head};
    long *vals[3] = {&w->enc, &w->length, &w->head};
    for (int i = 0; i < 3; i++) {
        b = SLOT(w->row, offs[i]);
        FAIL_IF(b == NULL || !PyLong_CheckExact(b));
        *vals[i] = PyLong_AsLong(b);
        if (*vals[i] == -1 && PyErr_Occurred()) { /* past a C long: the Python road's */
            PyErr_Clear();
            result = 0;
            goto done;
        }
    }
    FAIL_IF(w->length <= 0 || (w->enc != 0 && w->enc != 1));
    result = 1;
done:
    Py_XDECREF(cache);
    return result;
}

/* The collection writes serve_cwrite runs (before M_COUNT; mode_type: the row type each
 * needs), and the two reads with functions of their own. */
enum { M_HSET, M_ZADD, M_LPUSH, M_RPUSH, M_LPOP, M_RPOP, M_SADD, M_COUNT, M_LRANGE,
       M_ZRANGEBYSCORE };
static const long mode_type[M_COUNT] = {4, 3, 1, 1, 1, 1, 2};
#define LIST_QUICKLIST 1 /* storage/lists.py: every list's enc */

/* ":<v>\r\n" */
static PyObject *
int_reply(long v)
{
    char buf[32];
    int k = snprintf(buf, sizeof buf, ":%ld\r\n", v);
    return PyBytes_FromStringAndSize(buf, k);
}

/* One single-element write on a cached collection, the request p[0:len] with its
 * arguments at at[1..] (lengths n[1..]): `HSET key field value`, `ZADD key score member`
 * (no options, a score of digits), `LPUSH|RPUSH key element`, `LPOP|RPOP key` (no
 * count). 1 = served, its reply in *reply_out (held until the COMMIT like a SET's);
 * 0 = not for the lane (nothing written; perhaps the batch's transaction opened, as
 * call() would have); -1 = error.
 *
 * It is call() with the handler's single-element road (hashes._hset -> _set_fields ->
 * storage/hashes.put; zsets._zadd_one -> storage/zsets.insert_or_update; lists._push ->
 * storage/lists.push; lists._pop -> storage/lists.pop) for a key whose row is in the row
 * cache: a live hash, zset or list without a TTL. Its statements are the storage
 * modules' own, bound the same way, and the row's counters change as Keyspace.set_meta
 * changes them (written once per batch by flush_meta). Every other case (the key not
 * cached or of another type, a TTL, a listpack the pair would convert by its size, a
 * pop that empties the list, a score in any other form, keyspace events, LFU ...) takes
 * the Python road, checked before anything is written. */
static int
serve_cwrite(PyObject *self, const char *p, Py_ssize_t len, Py_ssize_t *at, Py_ssize_t *n,
             int mode, PyObject **reply_out)
{
    int result = -1, t;
    PyObject *cur = NULL, *conn = NULL, *a = NULL, *c2 = NULL, *argv = NULL, *nowobj = NULL;
    PyObject *pending = NULL, *h = NULL, *score = NULL, *touched_ck = NULL, *v = NULL;
    PyObject *reply = NULL, *posobj = NULL, *handler = NULL;
    Ctx c = {0};
    Coll w = {0};
    double sc = 0;
    long pos = 0;
    int wrote = 0, argc = mode == M_LPOP || mode == M_RPOP ? 2 : mode <= M_ZADD ? 4 : 3;
    int is_int = 0;
    int pop = mode == M_LPOP || mode == M_RPOP, push = mode == M_LPUSH || mode == M_RPUSH;

    switch (mode) {
    case M_HSET: handler = g_hset_handler; break;
    case M_ZADD: handler = g_zadd_handler; break;
    case M_LPUSH: handler = g_lpush_handler; break;
    case M_RPUSH: handler = g_rpush_handler; break;
    case M_LPOP: handler = g_lpop_handler; break;
    case M_SADD: handler = g_sadd_handler; break;
    default: handler = g_rpop_handler; break;
    }
    if (mode == M_ZADD && !plain_score(p + at[2], n[2], &sc))
        return 0;
    t = coll_begin(self, &c, &w, p, len, at, n, handler, mode_type[mode], 0);
    if (t <= 0) {
        result = t;
        goto done;
    }
    PyObject *spelling = w.spelling, *cmd = w.cmd, *db = w.db, *key = w.key, *ck = w.ck;
    PyObject *row = w.row, *rid = w.rid;
    long enc = w.enc, length = w.length, head = w.head;
    FAIL_IF((push || pop) && enc != LIST_QUICKLIST);
    FAIL_IF(pop && length < 2); /* the last element: the key goes, on the Python road */
    if (mode == M_SADD && enc == 0) {
        /* an intset stays one for a member string2ll reads (plain_long's spellings; a
         * 19- or 20-character number is left to the Python road's to_int) */
        long long ignored;
        is_int = plain_long(p + at[2], n[2], &ignored);
        FAIL_IF(!is_int && n[2] >= 19 && n[2] <= 20);
    }
    if (mode == M_HSET && enc == 0) {
        /* hashTypeTryConversion: a long field or value makes the listpack a hashtable */
        long maxv = config_long(&c, s_hash_max_listpack_value);
        if (maxv == -1 && PyErr_Occurred()) goto done;
        FAIL_IF(n[2] > maxv || n[3] > maxv);
    }
    cur = PyObject_GetAttr(c.ks, s_cur);
    if (cur == NULL) goto done;
    conn = PyObject_GetAttr(c.engine, s_conn);
    if (conn == NULL) goto done;
    pending = PyObject_GetAttr(c.ks, s_pending_meta);
    if (pending == NULL) goto done;
    FAIL_IF(!PyDict_CheckExact(pending));
    if (argc >= 3) {
        a = PyBytes_FromStringAndSize(p + at[2], n[2]);
        if (a == NULL) goto done;
    }
    if (argc == 4) {
        c2 = PyBytes_FromStringAndSize(p + at[3], n[3]);
        if (c2 == NULL) goto done;
    }
    if (mode == M_HSET || mode == M_SADD) {
        h = PyObject_CallOneArg(g_mhash, a);
        if (h == NULL) goto done;
    } else if (mode == M_ZADD) {
        score = PyFloat_FromDouble(sc);
        if (score == NULL) goto done;
    } else {
        /* push: the position before the head or after the tail; pop: the end's */
        pos = mode == M_LPUSH ? head - 1 : mode == M_RPUSH ? head + length
            : mode == M_LPOP ? head : head + length - 1;
        posobj = PyLong_FromLong(pos);
        if (posobj == NULL) goto done;
    }
    if (pop) {
        /* storage/lists.pop of one: the element is read first */
        PyObject *args = PyTuple_Pack(2, rid, posobj);
        if (args == NULL) goto done;
        v = PyObject_CallMethodObjArgs(cur, s_execute, g_list_get, args, NULL);
        Py_DECREF(args);
        if (v == NULL) goto done;
        Py_SETREF(v, PyObject_CallMethodNoArgs(v, s_fetchone));
        if (v == NULL) goto done;
        FAIL_IF(!PyTuple_Check(v) || PyTuple_GET_SIZE(v) != 1
                || !PyBytes_Check(PyTuple_GET_ITEM(v, 0)));
        PyObject *value = PyTuple_GET_ITEM(v, 0);
        Py_ssize_t vlen = PyBytes_GET_SIZE(value);
        char hdr[32];
        int hl = bulk_header(hdr, vlen);
        reply = PyBytes_FromStringAndSize(NULL, hl + vlen + 2);
        if (reply == NULL) goto done;
        char *o = PyBytes_AS_STRING(reply);
        memcpy(o, hdr, hl);
        memcpy(o + hl, PyBytes_AS_STRING(value), vlen);
        o[hl + vlen] = '\r';
        o[hl + vlen + 1] = '\n';
        Py_CLEAR(v);
    }

    /* ---- every check passed: from here on the request is served ---- */
    double now = seconds(CLOCK_REALTIME);
    if (interaction(self, &c, now) < 0) goto done;
    nowobj = PyFloat_FromDouble(now);
    if (nowobj == NULL) goto done;
    double start = seconds(CLOCK_MONOTONIC);
    if (PyObject_SetAttr(c.ks, s_writing, Py_True) < 0) goto done;
    set_slot(row, o_atime, nowobj); /* lookup(): the access */
    int added = 0, changed;
    long new_len = length, new_head = head;
    if (mode == M_HSET) {
        /* hashes.put: INSERT OR IGNORE, else UPDATE if the value differs */
        PyObject *seq = PyLong_FromLong(head);
        changed = seq == NULL ? -1 : exec_changes(cur, conn, g_hset_insert,
                                                  PyTuple_Pack(5, rid, h, a, c2, seq));
        Py_XDECREF(seq);
        if (changed < 0) goto done;
        added = changed;
        if (!added && exec_changes(cur, conn, g_hset_update, PyTuple_Pack(4, rid, h, a, c2)) < 0)
            goto done;
        touched_ck = Py_NewRef(ck); /* created (set_meta) or not (ks.touch): touched */
        if (added) {
            new_len = length + 1;
            new_head = head + 1; /* the next new field's seq */
        }
    } else if (mode == M_SADD) {
        /* sets.add of one member: INSERT OR IGNORE; a member already there changes and
         * touches nothing */
        changed = exec_changes(cur, conn, g_sadd_insert, PyTuple_Pack(3, rid, h, a));
        if (changed < 0) goto done;
        added = changed;
        if (added) {
            touched_ck = Py_NewRef(ck);
            new_len = length + 1;
        }
    } else if (mode == M_ZADD) {
        /* zsets.insert_or_update: UPDATE if the score differs, else INSERT OR IGNORE */
        changed = exec_changes(cur, conn, g_zadd_update, PyTuple_Pack(3, rid, c2, score));
        if (changed < 0) goto done;
        if (changed) {
            touched_ck = Py_NewRef(ck); /* re-scored: ks.touch */
        } else {
            changed = exec_changes(cur, conn, g_zadd_insert, PyTuple_Pack(3, rid, c2, score));
            if (changed < 0) goto done;
            added = changed;
            if (added) {
                touched_ck = Py_NewRef(ck);
                new_len = length + 1;
            }
            /* else: present with this score, nothing written, nothing touched */
        }
    } else {
        /* lists.push of one element / lists.pop of one: no renumbering */
        PyObject *args = push ? PyTuple_Pack(3, rid, posobj, a) : PyTuple_Pack(2, rid, posobj);
        if (args == NULL) goto done;
        v = PyObject_CallMethodObjArgs(cur, s_execute, push ? g_list_insert : g_list_delete,
                                       args, NULL);
        Py_DECREF(args);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        touched_ck = Py_NewRef(ck);
        new_len = push ? length + 1 : length - 1;
        new_head = mode == M_LPUSH ? head - 1 : mode == M_LPOP ? head + 1 : head;
    }
    wrote = 1; /* from here on a failure is not the Python road's to run again */
    if (new_len != length || new_head != head) {
        /* set_meta / set_len / _set_len_head: the counters, the listpack converted past
         * its entries (zsets: or by the member's length); the row is written once per
         * batch (Keyspace.flush_meta) */
        if (added) {
            long entries = config_long(&c, mode == M_ZADD ? s_zset_max_listpack_entries
                                           : mode == M_SADD ? s_set_max_intset_entries
                                           : s_hash_max_listpack_entries);
            if (entries == -1 && PyErr_Occurred()) goto done;
            if (mode == M_SADD && entries > (1L << 30))
                entries = 1L << 30; /* sets.intset_max */
            if (enc == 0 && mode == M_SADD && !is_int)
                enc = 1; /* setTypeAdd: a member that is not an integer */
            if (enc == 0 && mode == M_ZADD) {
                long maxv = config_long(&c, s_zset_max_listpack_value);
                if (maxv == -1 && PyErr_Occurred()) goto done;
                if (n[3] > maxv)
                    enc = 1;
            }
            if (enc == 0 && new_len > entries)
                enc = 1;
            set_slot(row, o_enc, enc ? g_one : g_zero);
        }
        v = PyLong_FromLong(new_len);
        if (v == NULL) goto done;
        set_slot(row, o_len, v);
        Py_CLEAR(v);
        v = PyLong_FromLong(new_head);
        if (v == NULL) goto done;
        set_slot(row, o_head, v);
        Py_CLEAR(v);
        if (PyDict_SetItem(pending, rid, row) < 0) goto done;
    }
    if (push) {
        reply = int_reply(new_len);
        if (reply == NULL) goto done;
    } else if (!pop) {
        reply = Py_NewRef(added ? g_int1 : g_int0);
    }
    argv = PyList_New(argc);
    if (argv == NULL) goto done;
    PyList_SET_ITEM(argv, 0, Py_NewRef(spelling));
    PyList_SET_ITEM(argv, 1, Py_NewRef(key));
    if (argc >= 3)
        PyList_SET_ITEM(argv, 2, Py_NewRef(a));
    if (argc == 4)
        PyList_SET_ITEM(argv, 3, Py_NewRef(c2));
    if (count_call(&c, cmd, spelling, key, argv, start) < 0
        || write_end(&c, touched_ck, db, argv, reply, reply_out) < 0)
        goto done;
    g_served_collection++;
    result = 1;

done:
    Py_XDECREF(cur);
    Py_XDECREF(conn);
    Py_XDECREF(a);
    Py_XDECREF(c2);
    Py_XDECREF(argv);
    Py_XDECREF(nowobj);
    Py_XDECREF(pending);
    Py_XDECREF(h);
    Py_XDECREF(score);
    Py_XDECREF(touched_ck);
    Py_XDECREF(v);
    Py_XDECREF(reply);
    Py_XDECREF(posobj);
    coll_clear(&w);
    ctx_clear(&c);
    return handed_on(result, wrote);
}

/* Which of serve_cwrite's commands (or LRANGE) a request of argc arguments, named
 * name[0:nlen], may be (any case); -1: none. */
static int
cwrite_mode(const char *name, Py_ssize_t nlen, int argc)
{
    /* name, its length, argc: checked per request, so no strlen */
    static const struct { const char *name; Py_ssize_t len; int argc, mode; } modes[] = {
        {"hset", 4, 4, M_HSET}, {"zadd", 4, 4, M_ZADD}, {"lpush", 5, 3, M_LPUSH},
        {"rpush", 5, 3, M_RPUSH}, {"lpop", 4, 2, M_LPOP}, {"rpop", 4, 2, M_RPOP},
        {"sadd", 4, 3, M_SADD}, {"lrange", 6, 4, M_LRANGE},
        {"zrangebyscore", 13, 4, M_ZRANGEBYSCORE}, {"zrangebyscore", 13, 7, M_ZRANGEBYSCORE}};
    if (g_hset_handler == NULL)
        return -1;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (argc != modes[i].argc || nlen != modes[i].len)
            continue;
        Py_ssize_t k = 0;
        while (k < nlen && (name[k] | 0x20) == modes[i].name[k])
            k++;
        if (k == nlen)
            return modes[i].mode;
    }
    return -1;
}

/* A collection read's statement, whose one row is (joined) or (count, joined): the
 * elements group_concat joined with 0xff bytes. The reply joined_array makes of them,
 * `want` elements (or the row's count when want < 0); Py_None when it is not for the
 * lane (no such row, an element holding 0xff); NULL on error. Steals `args`. */
static PyObject *
query_joined(Ctx *c, PyObject *sql, PyObject *args, long long want)
{
    if (args == NULL)
        return NULL;
    PyObject *cur = PyObject_GetAttr(c->ks, s_cur);
    PyObject *v = cur == NULL ? NULL
                              : PyObject_CallMethodObjArgs(cur, s_execute, sql, args, NULL);
    Py_XDECREF(cur);
    Py_DECREF(args);
    if (v == NULL)
        return NULL;
    Py_SETREF(v, PyObject_CallMethodNoArgs(v, s_fetchone));
    if (v == NULL)
        return NULL;
    Py_ssize_t size = want < 0 ? 2 : 1;
    PyObject *reply = Py_None;
    if (PyTuple_Check(v) && PyTuple_GET_SIZE(v) == size) {
        PyObject *count = want < 0 ? Py_NewRef(PyTuple_GET_ITEM(v, 0))
                                   : PyLong_FromLongLong(want);
        if (count == NULL) {
            Py_DECREF(v);
            return NULL;
        }
        PyObject *jargs[2] = {PyTuple_GET_ITEM(v, size - 1), count};
        reply = joined_array(NULL, jargs, 2);
        Py_DECREF(count);
    } else {
        Py_INCREF(reply);
    }
    Py_DECREF(v);
    return reply;
}

/* A collection read the lane answered (`reply`, after the command ran since `begun`):
 * lookup_read's hit and the row's access, then call()'s bookkeeping for the request's
 * argc arguments at p+at[k]. 0 = done, -1 = error. */
static int
coll_read_end(PyObject *self, Ctx *c, Coll *w, const char *p, Py_ssize_t *at, Py_ssize_t *n,
              int argc, double begun, PyObject *reply, PyObject **reply_out)
{
    int result = -1;
    PyObject *nowobj = NULL, *argv = NULL;
    double now = seconds(CLOCK_REALTIME);
    if (interaction(self, c, now) < 0) goto done;
    nowobj = PyFloat_FromDouble(now);
    if (nowobj == NULL) goto done;
    if (PyObject_SetAttr(c->ks, s_writing, Py_False) < 0) goto done;
    set_slot(w->row, o_atime, nowobj);
    if (gadd(c->ks, s_hits, g_one) < 0) goto done;
    argv = PyList_New(argc);
    if (argv == NULL) goto done;
    PyList_SET_ITEM(argv, 0, Py_NewRef(w->spelling));
    PyList_SET_ITEM(argv, 1, Py_NewRef(w->key));
    for (int k = 2; k < argc; k++) {
        PyObject *a = PyBytes_FromStringAndSize(p + at[k], n[k]);
        if (a == NULL) goto done;
        PyList_SET_ITEM(argv, k, a);
    }
    if (count_call(c, w->cmd, w->spelling, w->key, argv, begun) < 0
        || write_end(c, NULL, w->db, argv, reply, reply_out) < 0)
        goto done;
    g_served_collection++;
    result = 0;
done:
    Py_XDECREF(nowobj);
    Py_XDECREF(argv);
    return result;
}

/* `LRANGE key start stop` (canonical integers) of a cached list, the request p[0:len]:
 * call() with lists.lrange's road (lookup_read, clamp_range, storage/lists.range_wire:
 * the rows joined by SQLite, split here by joined_array), inside the batch's read
 * transaction as call() runs it. 1 = served, *reply_out its reply (held until the
 * batch ends, like every reply of call()); 0 = not for the lane (nothing changed but,
 * perhaps, the batch opened, as call() would have); -1 = error. */
static int
serve_lrange(PyObject *self, const char *p, Py_ssize_t len, Py_ssize_t *at, Py_ssize_t *n,
             PyObject **reply_out)
{
    int result = -1, t;
    PyObject *reply = NULL;
    int served = 0;
    Ctx c = {0};
    Coll w = {0};
    long long start, end;

    if (!plain_long(p + at[2], n[2], &start) || !plain_long(p + at[3], n[3], &end))
        return 0;
    t = coll_begin(self, &c, &w, p, len, at, n, g_lrange_handler, 1, 1);
    if (t <= 0) {
        result = t;
        goto done;
    }
    long long length = w.length, head = w.head;
    /* clamp_range */
    if (start < 0)
        start += length;
    if (end < 0)
        end += length;
    if (start < 0)
        start = 0;
    if (end >= length)
        end = length - 1;
    double begun = seconds(CLOCK_MONOTONIC);
    if (start > end || start >= length) {
        reply = PyBytes_FromString("*0\r\n");
        if (reply == NULL) goto done;
    } else {
        reply = query_joined(&c, g_list_range,
                             Py_BuildValue("(OLL)", w.rid, head + start, head + end),
                             end - start + 1);
        if (reply == NULL) goto done;
        FAIL_IF(reply == Py_None); /* an element holds 0xff: rows one by one, in Python */
    }

    /* ---- served ---- */
    served = 1;
    if (coll_read_end(self, &c, &w, p, at, n, 4, begun, reply, reply_out) < 0)
        goto done;
    result = 1;

done:
    Py_XDECREF(reply);
    coll_clear(&w);
    ctx_clear(&c);
    return handed_on(result, served);
}

/* A ZRANGEBYSCORE bound the lane parses itself: an optional '(' (exclusive), then
 * "inf", "+inf", "-inf" or an optional '-' and ASCII digits, which strtod reads exactly
 * as the Python road's float() does. 0 = another form (the Python road parses it). */
static int
plain_bound(const char *p, Py_ssize_t n, double *out, int *exclusive)
{
    *exclusive = n > 0 && p[0] == '(';
    p += *exclusive;
    n -= *exclusive;
    if ((n == 3 && memcmp(p, "inf", 3) == 0) || (n == 4 && memcmp(p, "+inf", 4) == 0)) {
        *out = Py_HUGE_VAL;
        return 1;
    }
    if (n == 4 && memcmp(p, "-inf", 4) == 0) {
        *out = -Py_HUGE_VAL;
        return 1;
    }
    int neg = n > 0 && p[0] == '-';
    if (!plain_score(p + neg, n - neg, out))
        return 0;
    if (neg)
        *out = -*out;
    return 1;
}

/* `ZRANGEBYSCORE key min max [LIMIT offset count]` (no WITHSCORES) of a cached zset,
 * the request p[0:len] of argc arguments: call() with zsets._zrange's road for it
 * (lookup_read, then storage/zsets.range_score_wire: the members joined by SQLite, split
 * by joined_array), inside the batch's read transaction. Bounds and LIMIT in the forms
 * plain_bound/plain_long read, a LIMIT offset of 0 or more that is under the length and
 * a count other than 0; everything else, and a member holding a 0xff byte, takes the
 * Python road. 1 = served, 0 = not for the lane, -1 = error, as serve_lrange. */
static int
serve_zrangebyscore(PyObject *self, const char *p, Py_ssize_t len, int argc,
                    Py_ssize_t *at, Py_ssize_t *n, PyObject **reply_out)
{
    int result = -1, t, lo_ex, hi_ex;
    PyObject *reply = NULL;
    int served = 0;
    Ctx c = {0};
    Coll w = {0};
    double lo, hi;
    long long offset = 0, count = -1;

    if (!plain_bound(p + at[2], n[2], &lo, &lo_ex) || !plain_bound(p + at[3], n[3], &hi, &hi_ex))
        return 0;
    if (argc == 7) {
        const char *o = p + at[4];
        if (n[4] != 5 || (o[0] | 0x20) != 'l' || (o[1] | 0x20) != 'i' || (o[2] | 0x20) != 'm'
            || (o[3] | 0x20) != 'i' || (o[4] | 0x20) != 't'
            || !plain_long(p + at[5], n[5], &offset) || !plain_long(p + at[6], n[6], &count)
            || offset < 0 || count == 0)
            return 0;
    }
    t = coll_begin(self, &c, &w, p, len, at, n, g_zrangebyscore_handler, 3, 1);
    if (t <= 0) {
        result = t;
        goto done;
    }
    FAIL_IF(offset > 0 && offset >= w.length); /* an empty reply: the Python road's */
    double begun = seconds(CLOCK_MONOTONIC);
    reply = query_joined(&c, PyTuple_GET_ITEM(g_zrange_score, 2 * lo_ex + hi_ex),
                         Py_BuildValue("(OddLL)", w.rid, lo, hi, count, offset), -1);
    if (reply == NULL) goto done;
    FAIL_IF(reply == Py_None); /* a member holds 0xff: SQLite builds the reply, in Python */

    /* ---- served ---- */
    served = 1;
    if (coll_read_end(self, &c, &w, p, at, n, argc, begun, reply, reply_out) < 0)
        goto done;
    result = 1;

done:
    Py_XDECREF(reply);
    coll_clear(&w);
    ctx_clear(&c);
    return handed_on(result, served);
}

/* A canonical multibulk request `*<argc>\r\n` + argc bulks (1 <= argc <= MAX_ARGS) at
 * the start of p[0:len]: its length and argc, the arguments' offsets and lengths in at[]
 * and n[]; -1 when p does not start with one whole such request. */
#define MAX_ARGS 64
static Py_ssize_t
parse_any(const char *p, Py_ssize_t len, int *argc, Py_ssize_t *at, Py_ssize_t *n)
{
    Py_ssize_t i = 1;
    int count = 0, digits = 0;
    if (len < 4 || p[0] != '*')
        return -1;
    while (i < len && p[i] >= '0' && p[i] <= '9' && digits < 3) {
        count = count * 10 + (p[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || (digits > 1 && p[1] == '0') || count < 1 || count > MAX_ARGS)
        return -1;
    if (i + 2 > len || p[i] != '\r' || p[i + 1] != '\n')
        return -1;
    i += 2;
    for (int k = 0; k < count; k++) {
        i = parse_bulk(p, len, i, &at[k], &n[k]);
        if (i < 0)
            return -1;
    }
    *argc = count;
    return i;
}

/* May the lane hand `cmd` to call()? connection.lane_ok decides, once per Command. */
static int
lane_ok(PyObject *cmd)
{
    PyObject *v = PyDict_GetItemWithError(g_lane_cmds, cmd);
    if (v == NULL) {
        if (PyErr_Occurred())
            return -1;
        v = PyObject_CallOneArg(g_lane_ok, cmd);
        if (v == NULL)
            return -1;
        int r = PyDict_SetItem(g_lane_cmds, cmd, v);
        Py_DECREF(v);
        if (r < 0)
            return -1;
    }
    return PyObject_IsTrue(v);
}

/* Any other plain command: execute()'s plain branch (the checks ctx_check and the
 * arity) in C, then dispatch.call() itself, which runs the handler with every hook.
 * 1 = ran, *reply_out its encoded reply, or NULL when _finish took it (Suspend, CLIENT
 * REPLY, a closing client, pushes behind it): *out_first then holds the replies queued
 * before it, which the caller had to put on `out` first; 0 = not for the lane (nothing
 * changed); -1 = error. */
static int
serve_call(PyObject *self, PyObject *pending_replies, const char *p, Py_ssize_t len,
           int argc, Py_ssize_t *at, Py_ssize_t *n, PyObject **reply_out, int *finished)
{
    int result = -1, t;
    PyObject *b, *spelling = NULL, *cmd = NULL, *argv = NULL, *reply = NULL, *v = NULL;
    Ctx c = {0};

    *finished = 0;
    t = ctx_check(self, &c, len);
    if (t <= 0) {
        result = t;
        goto done;
    }
    spelling = PyBytes_FromStringAndSize(p + at[0], n[0]);
    if (spelling == NULL) goto done;
    cmd = Py_XNewRef(PyDict_GetItemWithError(g_plain, spelling));
    if (cmd == NULL) {
        if (!PyErr_Occurred()) result = 0; /* not seen yet: execute() learns it */
        goto done;
    }
    FAIL_IF(!Py_IS_TYPE(cmd, t_command) || SLOT(cmd, o_cached_read) != Py_None);
    TRUTH(lane_ok(cmd));
    FAIL_IF(!t);
    b = SLOT(cmd, o_arity);
    FAIL_IF(b == NULL || !PyLong_CheckExact(b));
    {
        long arity = PyLong_AsLong(b);
        FAIL_IF(!(argc == arity || (arity < 0 && argc >= -arity)));
    }

    /* ---- every check passed: from here on the request is served ---- */
    if (interaction(self, &c, seconds(CLOCK_REALTIME)) < 0) goto done;
    argv = PyList_New(argc);
    if (argv == NULL) goto done;
    PyList_SET_ITEM(argv, 0, Py_NewRef(spelling));
    for (int k = 1; k < argc; k++) {
        PyObject *a = PyBytes_FromStringAndSize(p + at[k], n[k]);
        if (a == NULL) goto done;
        PyList_SET_ITEM(argv, k, a);
    }
    reply = PyObject_CallFunctionObjArgs(g_call, c.client, cmd, argv, NULL);
    if (reply == NULL) goto done;
    g_served_call++;
    /* _data_received / _run: the special replies and client states go to _finish */
    int special = PyObject_TypeCheck(reply, (PyTypeObject *)g_suspend);
    if (!special) {
        b = PyDict_GetItemWithError(c.cd, s_reply_mode);
        if (b == NULL && PyErr_Occurred()) goto done;
        if (b != g_on) {
            TRUTH(b == NULL ? 0 : PyObject_RichCompareBool(b, g_on, Py_EQ));
            special = !t;
        }
    }
    if (!special) {
        PyObject **after[] = {&s_close_after_reply, &s_deferred_pushes, NULL};
        for (PyObject ***nm = after; *nm != NULL && !special; nm++) {
            TRUTH(truth(dattr(c.client, c.cd, **nm)));
            special = t;
        }
    }
    if (special) {
        /* what the lane queued before this request goes out first */
        PyObject *out = SLOT(self, o_out);
        if (out == NULL || !PyList_Check(out)) {
            PyErr_SetString(PyExc_RuntimeError, "connection without an output list");
            goto done;
        }
        Py_ssize_t queued = PyList_GET_SIZE(pending_replies), end = PyList_GET_SIZE(out);
        if (queued > 0 && (PyList_SetSlice(out, end, end, pending_replies) < 0
                           || PyList_SetSlice(pending_replies, 0, queued, NULL) < 0))
            goto done;
        v = PyObject_CallMethodObjArgs(self, s__finish, argv, reply, NULL);
        if (v == NULL) goto done;
        TRUTH(PyObject_IsTrue(v));
        *finished = t ? 1 : 2; /* 2: suspended, the rest of the read waits */
        *reply_out = NULL;
    } else {
        *reply_out = PyObject_CallFunctionObjArgs(g_encode, reply,
                                                  c.resp == 3 ? Py_True : Py_False, NULL);
        if (*reply_out == NULL) goto done;
    }
    result = 1;

done:
    Py_XDECREF(spelling);
    Py_XDECREF(cmd);
    Py_XDECREF(argv);
    Py_XDECREF(reply);
    Py_XDECREF(v);
    ctx_clear(&c);
    return result;
}

/* A read: the requests at its start that the lane takes (GETs of cached rows, plain
 * SETs, other plain commands handed to call()) served here, in order; whatever follows
 * them (another command, a partial request) goes to _data_received after their replies
 * are queued, exactly where the Python road would have put them. 1 = the whole read
 * served, 0 = none of it, 2 = a prefix (the rest already handed on), -1 = error. */
static int
serve_read(PyObject *self, PyObject *stats, PyObject *data)
{
    if (!PyBytes_CheckExact(data))
        return 0;
    const char *p = PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data), at = 0, reqlen, argat[MAX_ARGS], argn[MAX_ARGS];
    PyObject *replies = NULL, *joined = NULL, *v = NULL, *transport = NULL;
    int result = -1, wrote = 0, finished = 0, argc;

    replies = PyList_New(0);
    if (replies == NULL)
        return -1;
    /* INFO net_input counts a read before any of it runs, as on the Python road (a
     * command in the read sees it); what the lane hands on is given back first */
    if (add_ssize(stats, s_net_input, len) < 0) goto done;
    while (at < len) {
        PyObject *reply = NULL;
        int r;
        if ((reqlen = parse_request(p + at, len - at, '2', "get", argat, argn)) > 0) {
            /* a GET the lane does not answer is the Python road's (its cached_read
             * keeps it out of serve_call too): no second round of checks */
            r = serve_get(self, p + at, reqlen, argat[0], argn[0], &reply);
        } else if ((reqlen = parse_request(p + at, len - at, '3', "set", argat, argn)) > 0
                   && (r = serve_set(self, p + at, reqlen, argat, argn, &reply)) != 0) {
            wrote = 1;
        } else if ((reqlen = parse_any(p + at, len - at, &argc, argat, argn)) > 0) {
            int mode = cwrite_mode(p + at + argat[0], argn[0], argc);
            r = mode < 0 ? 0
                : mode == M_LRANGE ? serve_lrange(self, p + at, reqlen, argat, argn, &reply)
                : mode == M_ZRANGEBYSCORE
                ? serve_zrangebyscore(self, p + at, reqlen, argc, argat, argn, &reply)
                : serve_cwrite(self, p + at, reqlen, argat, argn, mode, &reply);
            if (r == 0)
                r = serve_call(self, replies, p + at, reqlen, argc, argat, argn, &reply,
                               &finished);
            wrote = 1; /* call() opened the batch: replies wait for its COMMIT */
        } else {
            break;
        }
        if (r < 0)
            goto done;
        if (r == 0)
            break;
        at += reqlen;
        if (reply != NULL) {
            int a = PyList_Append(replies, reply);
            Py_DECREF(reply);
            if (a < 0)
                goto done;
        }
        if (finished == 2 || SLOT(self, o_closing) != Py_False)
            break; /* suspended (the rest waits in `pending`), or closing (dropped) */
    }
    if (at == 0) {
        if (add_ssize(stats, s_net_input, -len) == 0)
            result = 0;
        goto done;
    }
    Py_ssize_t count = PyList_GET_SIZE(replies), n = 0;
    if (count == 1) {
        joined = Py_NewRef(PyList_GET_ITEM(replies, 0));
    } else if (count > 1) {
        PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
        if (empty == NULL) goto done;
        joined = _PyBytes_Join(empty, replies);
        Py_DECREF(empty);
        if (joined == NULL) goto done;
    }
    if (joined != NULL)
        n = PyBytes_GET_SIZE(joined);
    if (at == len && joined != NULL && n <= REPLY_BUF && !wrote) {
        /* _write_out: straight to the transport (serve_get saw no batch open) */
        transport = Py_XNewRef(SLOT(self, o_transport));
        if (transport == NULL) goto done;
        v = PyObject_CallMethodOneArg(transport, s_write, joined);
        if (v == NULL) goto done;
        Py_CLEAR(v);
        if (add_ssize(stats, s_net_output, n) < 0 || gadd(stats, s_io_writes, g_one) < 0)
            goto done;
        result = 1;
        goto done;
    }
    /* queued as the Python road queues replies; then the rest of the read (to `pending`
     * behind a suspended request, dropped by a closing connection), or _flush (which
     * holds a write's reply until its COMMIT, and checks client-output-buffer-limit for
     * what is over the static buffer) */
    PyObject *out = SLOT(self, o_out);
    if (out == NULL || !PyList_Check(out)
        || (joined != NULL && PyList_Append(out, joined) < 0)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "connection without an output list");
        goto done;
    }
    if (at == len || SLOT(self, o_closing) != Py_False) {
        v = PyObject_CallMethodNoArgs(self, s__flush);
    } else {
        if (add_ssize(stats, s_net_input, at - len) < 0) goto done;
        PyObject *rest = PyBytes_FromStringAndSize(p + at, len - at);
        if (rest == NULL) goto done;
        v = PyObject_CallMethodOneArg(self, s__data_received, rest);
        Py_DECREF(rest);
    }
    if (v == NULL) goto done;
    Py_CLEAR(v);
    result = at == len ? 1 : 2;

done:
    Py_XDECREF(replies);
    Py_XDECREF(joined);
    Py_XDECREF(v);
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
            r = serve_read(self, stats, data);
        Py_DECREF(stats);
        if (r > 0)
            Py_RETURN_NONE;
        if (r < 0 || PyErr_Occurred())
            return NULL;
    }
    return PyObject_CallMethodOneArg(self, s__data_received, data);
}

/* Committer.flush -> release(ok, error): the batch's COMMIT returned; send the held
 * replies. The common case (committed, an open socket taking a reply under the static
 * buffer) is _release + _write_out here; every other case is theirs, in Python. */
static PyObject *
Lane_release(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *out, *joined = NULL, *transport, *v, *server, *stats = NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "release(ok, error)");
        return NULL;
    }
    if (t_conn == NULL || !PyObject_TypeCheck(self, t_conn) || args[0] != Py_True)
        goto python;
    out = SLOT(self, o_out);
    transport = SLOT(self, o_transport);
    server = SLOT(self, o_server);
    if (out == NULL || !PyList_CheckExact(out) || PyList_GET_SIZE(out) == 0
        || transport == NULL || transport == Py_None || server == NULL
        || SLOT(self, o_closing) != Py_False || SLOT(self, o_backlogged) != Py_False)
        goto python;
    Py_INCREF(transport);
    v = PyObject_CallMethodNoArgs(transport, s_is_closing);
    if (v == NULL) {
        Py_DECREF(transport);
        return NULL;
    }
    int closing = PyObject_IsTrue(v);
    Py_DECREF(v);
    if (closing != 0) {
        Py_DECREF(transport);
        if (closing < 0)
            return NULL;
        goto python;
    }
    if (PyList_GET_SIZE(out) == 1) {
        joined = Py_NewRef(PyList_GET_ITEM(out, 0));
    } else {
        PyObject *empty = PyBytes_FromStringAndSize(NULL, 0);
        joined = empty == NULL ? NULL : _PyBytes_Join(empty, out);
        Py_XDECREF(empty);
    }
    if (joined == NULL || !PyBytes_CheckExact(joined)
        || PyBytes_GET_SIZE(joined) > REPLY_BUF) {
        Py_XDECREF(joined);
        Py_DECREF(transport);
        if (PyErr_Occurred())
            return NULL;
        goto python;
    }
    /* from here on as _write_out: holding off, the output taken, written, counted */
    set_slot(self, o_holding, Py_False);
    v = PyList_New(0);
    if (v == NULL) goto fail;
    set_slot(self, o_out, v);
    Py_DECREF(v);
    v = PyObject_CallMethodOneArg(transport, s_write, joined);
    if (v == NULL) goto fail;
    Py_DECREF(v);
    stats = PyObject_GetAttr(server, s_stats);
    if (stats == NULL || add_ssize(stats, s_net_output, PyBytes_GET_SIZE(joined)) < 0
        || gadd(stats, s_io_writes, g_one) < 0)
        goto fail;
    Py_DECREF(stats);
    Py_DECREF(joined);
    Py_DECREF(transport);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(stats);
    Py_DECREF(joined);
    Py_DECREF(transport);
    return NULL;
python:
    return PyObject_CallMethodObjArgs(self, s__release, args[0], args[1], NULL);
}

static PyMethodDef Lane_methods[] = {
    {"data_received", (PyCFunction)Lane_data_received, METH_O,
     "asyncio.Protocol.data_received: the GETs of cached rows and plain SETs at the "
     "start of a read served here, the rest by _data_received."},
    {"release", (PyCFunction)(void (*)(void))Lane_release, METH_FASTCALL,
     "Committer.flush's release(ok, error): the held replies sent (else _release)."},
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
    PyObject *plain, *get_cached, *slow, *set_handler, *lazy_row, *update_sql, *upsert_sql;
    PyObject *apsw_error, *call, *encode, *lane_ok, *suspend;
    PyTypeObject *conn, *parser, *command, *row;
    if (!PyArg_ParseTuple(args, "O!OOO!O!O!O!OOUUOOOOO", &PyDict_Type, &plain, &get_cached,
                          &slow, &PyType_Type, &conn, &PyType_Type, &parser, &PyType_Type,
                          &command, &PyType_Type, &row, &set_handler, &lazy_row, &update_sql,
                          &upsert_sql, &apsw_error, &call, &encode, &lane_ok, &suspend))
        return NULL;
    PyObject *lane_cmds = PyDict_New();
    if (lane_cmds == NULL)
        return NULL;
    Py_XSETREF(g_lane_cmds, lane_cmds);
    Py_XSETREF(g_call, Py_NewRef(call));
    Py_XSETREF(g_encode, Py_NewRef(encode));
    Py_XSETREF(g_lane_ok, Py_NewRef(lane_ok));
    Py_XSETREF(g_suspend, Py_NewRef(suspend));
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
        {"latency", &o_latency}, {"fullname", &o_fullname}, {"handler", &o_handler},
        {"arity", &o_arity}, {NULL, NULL}};
    const SlotSpec row_slots[] = {
        {"type", &o_type}, {"expire_at", &o_expire_at}, {"value", &o_value},
        {"atime", &o_atime}, {"enc", &o_enc}, {"id", &o_id}, {"len", &o_len},
        {"head", &o_head}, {NULL, NULL}};
    if (slot_offsets(conn, conn_slots) < 0 || slot_offsets(parser, parser_slots) < 0
        || slot_offsets(command, command_slots) < 0 || slot_offsets(row, row_slots) < 0)
        return NULL;
    Py_XSETREF(t_conn, (PyTypeObject *)Py_NewRef(conn));
    Py_XSETREF(t_parser, (PyTypeObject *)Py_NewRef(parser));
    Py_XSETREF(t_command, (PyTypeObject *)Py_NewRef(command));
    Py_XSETREF(t_row, (PyTypeObject *)Py_NewRef(row));
    Py_XSETREF(g_get_cached, Py_NewRef(get_cached));
    Py_XSETREF(g_slow, Py_NewRef(slow));
    Py_XSETREF(g_set_handler, Py_NewRef(set_handler));
    Py_XSETREF(g_lazy_row, Py_NewRef(lazy_row));
    Py_XSETREF(g_update_sql, Py_NewRef(update_sql));
    Py_XSETREF(g_upsert_sql, Py_NewRef(upsert_sql));
    Py_XSETREF(g_apsw_error, Py_NewRef(apsw_error));
    Py_XSETREF(g_plain, Py_NewRef(plain));
    Py_RETURN_NONE;
}

static PyObject *
configure_writes(PyObject *mod, PyObject *args)
{
    PyObject *o[20];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOUUUUUUUUO!OU", &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &o[8], &o[9], &o[10], &o[11], &o[12], &o[13],
                          &o[14], &o[15], &o[16], &PyTuple_Type, &o[17], &o[18], &o[19]))
        return NULL;
    if (PyTuple_GET_SIZE(o[17]) != 4) {
        PyErr_SetString(PyExc_ValueError, "zrange_score: the four statements");
        return NULL;
    }
    PyObject **g[20] = {&g_hset_handler, &g_zadd_handler, &g_lpush_handler, &g_rpush_handler,
                        &g_lpop_handler, &g_rpop_handler, &g_lrange_handler,
                        &g_zrangebyscore_handler, &g_mhash, &g_hset_insert, &g_hset_update,
                        &g_zadd_update, &g_zadd_insert, &g_list_get, &g_list_insert,
                        &g_list_delete, &g_list_range, &g_zrange_score, &g_sadd_handler,
                        &g_sadd_insert};
    /* g_hset_handler last: it turns these commands on in serve_read */
    for (int i = 19; i >= 0; i--)
        Py_XSETREF(*g[i], Py_NewRef(o[i]));
    Py_RETURN_NONE;
}

static PyObject *
served_collection(PyObject *mod, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(g_served_collection);
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

static PyObject *
served_set(PyObject *mod, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(g_served_set);
}

static PyObject *
served_call(PyObject *mod, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(g_served_call);
}

/* joined_array(blob, n): the RESP array of the elements of `blob` (bytes or None: no
 * element), which SQLite's group_concat(col, x'ff') joined with 0xff bytes: "*<n>\r\n"
 * then each as a bulk string. None when `blob` does not split into exactly n parts (an
 * element holds a 0xff byte: the caller reads the rows another way). Why: SQLite builds
 * "$<len>\r\n<bytes>\r\n" per row at about twice the cost of the plain join, and Python
 * at ten times; this is one pass over bytes already in memory. */
static PyObject *
joined_array(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "joined_array(blob, n)");
        return NULL;
    }
    Py_ssize_t want = PyLong_AsSsize_t(args[1]);
    if (want == -1 && PyErr_Occurred())
        return NULL;
    const char *p = "";
    Py_ssize_t len = 0, parts = 0;
    if (args[0] != Py_None) {
        if (!PyBytes_Check(args[0])) {
            PyErr_SetString(PyExc_TypeError, "joined_array: blob must be bytes or None");
            return NULL;
        }
        p = PyBytes_AS_STRING(args[0]);
        len = PyBytes_GET_SIZE(args[0]);
        parts = 1;
        for (const char *q = p; (q = memchr(q, '\xff', (size_t)(p + len - q))) != NULL; q++)
            parts++;
    }
    if (parts != want || want < 0)
        Py_RETURN_NONE;
    /* "*<n>\r\n" + per part "$<len>\r\n" (at most 24) + "\r\n" + the bytes, less seps */
    Py_ssize_t cap = 24 + parts * 26 + len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    Py_ssize_t w = bulk_header(o, parts);
    o[0] = '*';
    const char *start = p, *end = p + len;
    for (Py_ssize_t i = 0; i < parts; i++) {
        const char *sep = i + 1 < parts ? memchr(start, '\xff', (size_t)(end - start)) : end;
        Py_ssize_t k = sep - start;
        w += bulk_header(o + w, k);
        memcpy(o + w, start, (size_t)k);
        w += k;
        o[w++] = '\r';
        o[w++] = '\n';
        start = sep + 1;
    }
    if (_PyBytes_Resize(&out, w) < 0)
        return NULL;
    return out;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(plain, get_cached, slow, conn_type, parser_type, command_type, row_type): "
     "the registry's spelling table, GET's cached_read, dispatch._slow and the classes "
     "whose slots the lane reads; the lane is off until called."},
    {"configure_writes", configure_writes, METH_VARARGS,
     "configure_writes(hset, zadd, lpush, rpush, lpop, rpop, lrange, zrangebyscore, mhash, "
     "hset_insert, hset_update, zadd_update, zadd_insert, list_get, list_insert, "
     "list_delete, list_range, zrange_score, sadd, sadd_insert): the handlers and storage "
     "statements of the "
     "single-element collection writes, LRANGE and ZRANGEBYSCORE, which the lane runs "
     "itself once called."},
    {"served_collection", served_collection, METH_NOARGS,
     "How many HSET/ZADD/SADD/LPUSH/RPUSH/LPOP/RPOP/LRANGE/ZRANGEBYSCOREs the lane has "
     "run since start."},
    {"enabled", enabled, METH_NOARGS, "Is the lane configured (AKI_LANE=0 leaves it off)?"},
    {"served", served, METH_NOARGS, "How many GETs the lane has answered since start."},
    {"served_set", served_set, METH_NOARGS, "How many SETs the lane has run since start."},
    {"joined_array", (PyCFunction)(void (*)(void))joined_array, METH_FASTCALL,
     "joined_array(blob, n): the RESP array of n elements group_concat joined with "
     "0xff bytes, or None when blob does not split into n parts."},
    {"served_call", served_call, METH_NOARGS,
     "How many other commands the lane has parsed and handed to call() since start."},
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
    INTERN(s_call_depth, "call_depth");
    INTERN(s_propagation, "propagation");
    INTERN(s_notify_enabled, "notify_enabled");
    INTERN(s_touched, "touched");
    INTERN(s_events, "events");
    INTERN(s_begin, "begin");
    INTERN(s_request_commit, "request_commit");
    INTERN(s_cur, "cur");
    INTERN(s_writing, "writing");
    INTERN(s_execute, "execute");
    INTERN(s_conn, "conn");
    INTERN(s_set_last_insert_rowid, "set_last_insert_rowid");
    INTERN(s_dbmap, "dbmap");
    INTERN(s_clock, "clock");
    INTERN(s_changes, "changes");
    INTERN(s_last_insert_rowid, "last_insert_rowid");
    INTERN(s_cache_entries, "cache_entries");
    INTERN(s__remember, "_remember");
    INTERN(s_dirty, "dirty");
    INTERN(s_touch_hooks, "touch_hooks");
    INTERN(s_propagators, "propagators");
    INTERN(s_propagate, "propagate");
    INTERN(s_after_command, "after_command");
    INTERN(s__release, "_release");
    INTERN(s__finish, "_finish");
    INTERN(s_config, "config");
    INTERN(s_fetchone, "fetchone");
    INTERN(s_set_max_intset_entries, "set_max_intset_entries");
    INTERN(s_pending_meta, "pending_meta");
    INTERN(s_hash_max_listpack_value, "hash_max_listpack_value");
    INTERN(s_hash_max_listpack_entries, "hash_max_listpack_entries");
    INTERN(s_zset_max_listpack_value, "zset_max_listpack_value");
    INTERN(s_zset_max_listpack_entries, "zset_max_listpack_entries");
    g_one = PyLong_FromLong(1);
    g_zero = PyLong_FromLong(0);
    g_ok = PyBytes_FromString("+OK\r\n");
    g_int0 = PyBytes_FromString(":0\r\n");
    g_int1 = PyBytes_FromString(":1\r\n");
    if (g_int0 == NULL || g_int1 == NULL)
        return NULL;
    g_SET = PyBytes_FromString("SET");
    g_set = PyBytes_FromString("set");
    if (g_one == NULL || g_zero == NULL || g_ok == NULL || g_SET == NULL || g_set == NULL)
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
