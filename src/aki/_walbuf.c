/* aki._walbuf: a commit's WAL frames in a few large pwrites, instead of two per page.
 *
 * Why: SQLite writes a commit's frames to the -wal file as two pwrite() calls each (the
 * 24-byte frame header, then the page). A ZADD on a 100,000-member zset dirties three
 * B-tree leaves, so a group commit of 28 requests made 170 pwrites; perf put pwrite64 at
 * a quarter of the loop thread's samples. On this host a 4 KiB page costs ~3.5 us as two
 * calls and ~1 us as part of one call. This module gathers a transaction's frames in a
 * buffer and writes them when the commit frame is complete, in as few calls as SQLite's
 * unix layer takes (each below 128 KiB).
 *
 * How: the writer connection's WAL file object (SQLITE_FCNTL_JOURNAL_POINTER, through
 * apsw's Connection.filecontrol) gets a copy of its io_methods whose xWrite appends
 * writes contiguous with the buffer, and whose xRead, xSync, xTruncate, xFileSize,
 * xFileControl and xClose write the buffer first. Every other method is SQLite's own.
 * apsw keeps its SQLite private (no sqlite3_vfs_register to call from here), so the
 * object's methods pointer is swapped in place; the structures below are SQLite's
 * public, versioned ABI (sqlite3.h).
 *
 * Durability invariants (what a crash can and cannot leave behind):
 *  - The buffer holds only frames appended since the last commit frame. It is written
 *    out, whole and before xWrite returns, by the write that completes a commit frame
 *    (a frame header whose "database size after commit" field is non-zero, then its
 *    page). SQLite publishes a commit (the wal-index header, which readers and
 *    checkpoints trust) only after that xWrite returned, and replies are released only
 *    after COMMIT returned: no reader, checkpoint or client sees a frame that is not in
 *    the file.
 *  - A crash before that write loses only an uncommitted transaction's frames: the
 *    same as a crash before SQLite's own writes. A torn write of those pwrites is a
 *    torn WAL tail, which SQLite's frame checksums already reject on recovery. Frames
 *    of a transaction that SQLite rolled back after spilling them go out with the next
 *    write, past the last commit, as SQLite's own writes would have left them.
 *  - Only appends are buffered: writes past the furthest point written since the WAL
 *    header (offset 0) was last written. A write below it rewrites what SQLite already
 *    wrote (a spilled page dirtied again in the same transaction, then the frame
 *    checksums SQLite rewrites after the commit frame, the commit frame's header last).
 *    No commit frame follows those, so each goes out at once, after the buffer: order
 *    is kept and nothing is left behind when the commit is published.
 *  - Any read, sync, truncate, size query or file control on the file writes the
 *    buffer out first, so SQLite never reads back a frame from before it was written
 *    and the fsync of synchronous=FULL covers every frame.
 *  - A failed write (ENOSPC, EFBIG, EIO) is returned by the xWrite (or the xRead, xSync
 *    ...) that attempted it, so SQLite fails the commit as it would have; the buffer is
 *    dropped, since those frames belong to a transaction SQLite now rolls back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* --- SQLite's public ABI (sqlite3.h, io_methods version 3) --- */
typedef long long sq_int64;
typedef struct sq_file sq_file;
typedef struct sq_io_methods sq_io_methods;
struct sq_file {
    const sq_io_methods *pMethods;
};
struct sq_io_methods {
    int iVersion;
    int (*xClose)(sq_file *);
    int (*xRead)(sq_file *, void *, int, sq_int64);
    int (*xWrite)(sq_file *, const void *, int, sq_int64);
    int (*xTruncate)(sq_file *, sq_int64);
    int (*xSync)(sq_file *, int);
    int (*xFileSize)(sq_file *, sq_int64 *);
    int (*xLock)(sq_file *, int);
    int (*xUnlock)(sq_file *, int);
    int (*xCheckReservedLock)(sq_file *, int *);
    int (*xFileControl)(sq_file *, int, void *);
    int (*xSectorSize)(sq_file *);
    int (*xDeviceCharacteristics)(sq_file *);
    int (*xShmMap)(sq_file *, int, int, int, void volatile **);
    int (*xShmLock)(sq_file *, int, int, int);
    void (*xShmBarrier)(sq_file *);
    int (*xShmUnmap)(sq_file *, int);
    int (*xFetch)(sq_file *, sq_int64, int, void **);
    int (*xUnfetch)(sq_file *, sq_int64, void *);
};
#define SQ_OK 0
#define SQ_IOERR 10
#define WAL_FRAME_HDRSIZE 24
/* os_unix.c's write masks its length to 17 bits (seekAndWriteFd: nBuf &= 0x1ffff), so a
 * flush goes out in calls below 128 KiB: 6 for a commit of 84 pages instead of 168. */
#define WRITE_CHUNK ((size_t)0x1F000)

/* One slot per wrapped WAL file (one per open aki file in the process). */
#define MAX_FILES 16
typedef struct {
    sq_file *file;
    const sq_io_methods *orig;
    char *buf;
    sq_int64 off; /* file offset of buf[0] */
    size_t len, cap;
    int commit_pending; /* a commit frame's header is buffered; its page ends the commit */
    sq_int64 end;       /* end of the furthest write since the WAL header was last written */
    unsigned long long flushes, frames_bytes;
} Slot;
static Slot slots[MAX_FILES];
/* Taking and freeing a slot: install() holds the GIL but w_close() runs inside
 * sqlite3_close, which apsw calls without it. Lookups take no lock: a thread only ever
 * looks up its own file, whose slot no other thread changes. */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* One wrapper table per distinct original table (in practice one: os_unix's). */
#define MAX_TABLES 4
static const sq_io_methods *orig_tables[MAX_TABLES];
static sq_io_methods wrap_tables[MAX_TABLES];

static Slot *
find(sq_file *f)
{
    for (int i = 0; i < MAX_FILES; i++)
        if (slots[i].file == f)
            return &slots[i];
    return NULL;
}

/* Write the buffer out; the buffer is empty afterwards whatever the outcome. */
static int
flush(Slot *s)
{
    if (s->len == 0)
        return SQ_OK;
    int rc = SQ_OK;
    for (size_t done = 0; done < s->len && rc == SQ_OK; done += WRITE_CHUNK) {
        size_t n = s->len - done < WRITE_CHUNK ? s->len - done : WRITE_CHUNK;
        rc = s->orig->xWrite(s->file, s->buf + done, (int)n, s->off + (sq_int64)done);
        s->flushes++;
    }
    s->frames_bytes += s->len;
    s->len = 0;
    s->commit_pending = 0;
    return rc;
}

static int
w_write(sq_file *f, const void *p, int n, sq_int64 off)
{
    Slot *s = find(f);
    if (s == NULL)
        return SQ_IOERR;
    if (off == 0)
        s->end = 0; /* the WAL header: the log starts over (after a checkpoint RESTART) */
    int append = off >= s->end;
    if (s->len && (!append || off != s->off + (sq_int64)s->len || s->len + (size_t)n > s->cap)) {
        int rc = flush(s);
        if (rc != SQ_OK)
            return rc;
    }
    if (off + n > s->end)
        s->end = off + n;
    if (!append || n <= 0 || (size_t)n > s->cap)
        /* a rewrite of something already written (a spilled page written again, the
         * checksums SQLite rewrites at commit after that): written now, in order,
         * since no commit frame may follow it */
        return s->orig->xWrite(f, p, n, off);
    if (s->len == 0)
        s->off = off;
    memcpy(s->buf + s->len, p, (size_t)n);
    s->len += (size_t)n;
    if (n == WAL_FRAME_HDRSIZE) {
        /* bytes 4..7: the database size after this commit, 0 for other frames */
        const unsigned char *h = (const unsigned char *)p;
        if (h[4] | h[5] | h[6] | h[7])
            s->commit_pending = 1;
        return SQ_OK;
    }
    if (s->commit_pending)
        return flush(s);
    return SQ_OK;
}

#define FLUSH_FIRST(s, f)          \
    Slot *s = find(f);             \
    if (s == NULL)                 \
        return SQ_IOERR;           \
    {                              \
        int frc = flush(s);        \
        if (frc != SQ_OK)          \
            return frc;            \
    }

static int
w_read(sq_file *f, void *p, int n, sq_int64 off)
{
    FLUSH_FIRST(s, f);
    return s->orig->xRead(f, p, n, off);
}

static int
w_truncate(sq_file *f, sq_int64 size)
{
    FLUSH_FIRST(s, f);
    if (s->end > size)
        s->end = size;
    return s->orig->xTruncate(f, size);
}

static int
w_sync(sq_file *f, int flags)
{
    FLUSH_FIRST(s, f);
    return s->orig->xSync(f, flags);
}

static int
w_filesize(sq_file *f, sq_int64 *out)
{
    FLUSH_FIRST(s, f);
    return s->orig->xFileSize(f, out);
}

static int
w_filecontrol(sq_file *f, int op, void *arg)
{
    FLUSH_FIRST(s, f);
    return s->orig->xFileControl(f, op, arg);
}

static int
w_close(sq_file *f)
{
    Slot *s = find(f);
    if (s == NULL)
        return SQ_IOERR;
    const sq_io_methods *orig = s->orig;
    int rc = flush(s);
    pthread_mutex_lock(&slots_lock);
    free(s->buf);
    memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&slots_lock);
    f->pMethods = orig;
    int crc = orig->xClose(f);
    return rc != SQ_OK ? rc : crc;
}

static const sq_io_methods *
wrapper_for(const sq_io_methods *orig)
{
    for (int i = 0; i < MAX_TABLES; i++) {
        if (orig_tables[i] == orig)
            return &wrap_tables[i];
        if (orig_tables[i] == NULL) {
            wrap_tables[i] = *orig;
            wrap_tables[i].xClose = w_close;
            wrap_tables[i].xRead = w_read;
            wrap_tables[i].xWrite = w_write;
            wrap_tables[i].xTruncate = w_truncate;
            wrap_tables[i].xSync = w_sync;
            wrap_tables[i].xFileSize = w_filesize;
            wrap_tables[i].xFileControl = w_filecontrol;
            orig_tables[i] = orig;
            return &wrap_tables[i];
        }
    }
    return NULL;
}

static int
is_wrapper(const sq_io_methods *m)
{
    for (int i = 0; i < MAX_TABLES; i++)
        if (orig_tables[i] != NULL && m == &wrap_tables[i])
            return 1;
    return 0;
}

PyDoc_STRVAR(install_doc,
"install(file_pointer, capacity) -> bool\n\n"
"Buffer the writes of the WAL file object at that address (an sqlite3_file*, from\n"
"SQLITE_FCNTL_JOURNAL_POINTER), holding up to capacity bytes. True when installed\n"
"or already installed; False when the object cannot be wrapped (no methods yet, an\n"
"io_methods version below 3, no free slot). Call it with the connection idle, on the\n"
"thread that uses the connection.");

static PyObject *
install(PyObject *self, PyObject *args)
{
    unsigned long long addr;
    Py_ssize_t cap;
    if (!PyArg_ParseTuple(args, "Kn", &addr, &cap))
        return NULL;
    sq_file *f = (sq_file *)(uintptr_t)addr;
    if (f == NULL || cap < 65536)
        Py_RETURN_FALSE;
    if (f->pMethods == NULL || f->pMethods->iVersion < 3 || f->pMethods->xWrite == NULL)
        Py_RETURN_FALSE;
    if (is_wrapper(f->pMethods))
        Py_RETURN_TRUE;
    char *buf = malloc((size_t)cap);
    if (buf == NULL)
        return PyErr_NoMemory();
    pthread_mutex_lock(&slots_lock);
    Slot *s = find(NULL);
    const sq_io_methods *wrap = s != NULL ? wrapper_for(f->pMethods) : NULL;
    if (wrap == NULL) {
        pthread_mutex_unlock(&slots_lock);
        free(buf);
        Py_RETURN_FALSE;
    }
    s->orig = f->pMethods;
    s->buf = buf;
    s->cap = (size_t)cap;
    s->len = 0;
    s->off = 0;
    s->commit_pending = 0;
    s->end = 0;
    s->flushes = 0;
    s->frames_bytes = 0;
    s->file = f; /* last: find() matches the slot only once it is whole */
    f->pMethods = wrap;
    pthread_mutex_unlock(&slots_lock);
    Py_RETURN_TRUE;
}

PyDoc_STRVAR(stats_doc,
"stats(file_pointer) -> (pwrites, bytes) or None\n\n"
"How many writes the buffer made and how many bytes they held, for that file.");

static PyObject *
stats(PyObject *self, PyObject *args)
{
    unsigned long long addr;
    if (!PyArg_ParseTuple(args, "K", &addr))
        return NULL;
    Slot *s = addr ? find((sq_file *)(uintptr_t)addr) : NULL;
    if (s == NULL)
        Py_RETURN_NONE;
    return Py_BuildValue("(KK)", s->flushes, s->frames_bytes);
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS, install_doc},
    {"stats", stats, METH_VARARGS, stats_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef walbufmodule = {
    PyModuleDef_HEAD_INIT, "_walbuf",
    "A commit's WAL frames in a few large pwrites (see the source's header).", -1, methods,
};

PyMODINIT_FUNC
PyInit__walbuf(void)
{
    return PyModule_Create(&walbufmodule);
}
