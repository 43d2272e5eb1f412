// The "spool" VFS: the default VFS, with the writes to WAL files coalesced.
//
// Why: SQLite writes each WAL frame with two pwrite calls, the 24-byte frame header and then the
// page, and a frame (page size + 24 bytes) straddles two pages of the file. A committed-mode
// group commit of eight small appends writes two or three frames: four to six system calls,
// each through two page-cache pages, on the leader's critical path while seven callers wait.
// Here the frames of a transaction collect in a buffer and reach the file in one pwrite.
//
// The invariant: buffered bytes reach the file before any connection can learn of them, and
// before the commit returns. Readers (in this process or another) find frames only through
// the wal-index, which SQLite updates after the write of the transaction's last frame returned.
// So the buffer is written:
// - after the page of a commit frame. A frame header's bytes 4-7 hold the database size in
//   pages for the frame that ends a transaction and zero otherwise (the WAL file format), and
//   SQLite writes the page right after its header. A failed write fails that xWrite, and so
//   the commit;
// - before the file is read, synced, truncated, measured, closed, or asked anything through
//   xFileControl, xFetch or the xShm methods;
// - before a write that does not continue the buffered bytes, and when the buffer is full.
// A crash with bytes still buffered loses only frames of a transaction that had not committed,
// which SQLite ignores after a crash anyway.
//
// Everything else (the database file, journals, locks, shared memory) is the default VFS's:
// a database or journal file is opened by the default VFS directly in the space SQLite
// allocated, and only WAL files get the methods below.
#include "CSpoolVFS.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

const char *const spool_vfs_name = "spool";

enum {
    bufferCapacity = 64 * 1024,
    frameHeaderBytes = 24,
};

typedef struct WalFile {
    sqlite3_file base;
    /// The default VFS's file, in the same allocation right after this struct.
    sqlite3_file *real;
    /// Made at the first write (connections that only read never make one).
    unsigned char *buffer;
    int length;
    /// The file offset of buffer[0].
    sqlite3_int64 start;
    /// The last write was the header of a commit frame: write the buffer after the next write.
    int commitPageNext;
} WalFile;

static sqlite3_vfs *defaultVfs;
static sqlite3_vfs spoolVfs;
/// Per thread, so that a test counts its own commits while others run beside it.
static _Thread_local long long walWrites;

long long spool_vfs_wal_writes_on_this_thread(void) {
    return walWrites;
}

static int writeThrough(WalFile *file, const void *data, int amount, sqlite3_int64 offset) {
    walWrites += 1;
    return file->real->pMethods->xWrite(file->real, data, amount, offset);
}

/// Writes the buffered bytes to the file. Whatever the result, the buffer is empty after: a
/// failure fails the operation that asked, and SQLite rolls the transaction back.
static int flush(WalFile *file) {
    if (file->length == 0) return SQLITE_OK;
    int length = file->length;
    file->length = 0;
    return writeThrough(file, file->buffer, length, file->start);
}

/// Bytes 4-7 of a frame header, big-endian: nonzero only in a commit frame.
static int isCommitFrameHeader(const void *data, int amount) {
    if (amount != frameHeaderBytes) return 0;
    const unsigned char *bytes = data;
    return (bytes[4] | bytes[5] | bytes[6] | bytes[7]) != 0;
}

static int walWrite(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset) {
    WalFile *file = (WalFile *)f;
    int rc = SQLITE_OK;
    if (file->length > 0 && (offset != file->start + file->length || file->length + amount > bufferCapacity)) {
        rc = flush(file);
        if (rc != SQLITE_OK) return rc;
    }
    if (file->buffer == NULL && amount <= bufferCapacity) {
        file->buffer = sqlite3_malloc(bufferCapacity);
    }
    if (file->buffer == NULL || amount > bufferCapacity) {
        rc = writeThrough(file, data, amount, offset);
    } else {
        if (file->length == 0) file->start = offset;
        memcpy(file->buffer + file->length, data, (size_t)amount);
        file->length += amount;
    }
    if (file->commitPageNext) {
        file->commitPageNext = 0;
        if (rc == SQLITE_OK) rc = flush(file);
    } else if (isCommitFrameHeader(data, amount)) {
        file->commitPageNext = 1;
    }
    return rc;
}

static int walClose(sqlite3_file *f) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    int closed = file->real->pMethods->xClose(file->real);
    sqlite3_free(file->buffer);
    file->buffer = NULL;
    return rc != SQLITE_OK ? rc : closed;
}

static int walRead(sqlite3_file *f, void *data, int amount, sqlite3_int64 offset) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xRead(file->real, data, amount, offset);
}

static int walTruncate(sqlite3_file *f, sqlite3_int64 size) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xTruncate(file->real, size);
}

static int walSync(sqlite3_file *f, int flags) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xSync(file->real, flags);
}

static int walFileSize(sqlite3_file *f, sqlite3_int64 *size) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xFileSize(file->real, size);
}

static int walLock(sqlite3_file *f, int level) {
    WalFile *file = (WalFile *)f;
    return file->real->pMethods->xLock(file->real, level);
}

static int walUnlock(sqlite3_file *f, int level) {
    WalFile *file = (WalFile *)f;
    return file->real->pMethods->xUnlock(file->real, level);
}

static int walCheckReservedLock(sqlite3_file *f, int *out) {
    WalFile *file = (WalFile *)f;
    return file->real->pMethods->xCheckReservedLock(file->real, out);
}

static int walFileControl(sqlite3_file *f, int op, void *argument) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    return rc != SQLITE_OK ? rc : file->real->pMethods->xFileControl(file->real, op, argument);
}

static int walSectorSize(sqlite3_file *f) {
    WalFile *file = (WalFile *)f;
    return file->real->pMethods->xSectorSize(file->real);
}

static int walDeviceCharacteristics(sqlite3_file *f) {
    WalFile *file = (WalFile *)f;
    return file->real->pMethods->xDeviceCharacteristics(file->real);
}

// SQLite calls the xShm methods on the database file, never on a WAL file; they are here for
// completeness, after a flush like every other method that is not a write.
static int walShmMap(sqlite3_file *f, int page, int pageSize, int extend, void volatile **out) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    if (rc != SQLITE_OK) return rc;
    if (file->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
    return file->real->pMethods->xShmMap(file->real, page, pageSize, extend, out);
}

static int walShmLock(sqlite3_file *f, int offset, int count, int flags) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    if (rc != SQLITE_OK) return rc;
    if (file->real->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
    return file->real->pMethods->xShmLock(file->real, offset, count, flags);
}

static void walShmBarrier(sqlite3_file *f) {
    WalFile *file = (WalFile *)f;
    (void)flush(file);
    if (file->real->pMethods->iVersion >= 2) file->real->pMethods->xShmBarrier(file->real);
}

static int walShmUnmap(sqlite3_file *f, int delete) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    if (rc != SQLITE_OK) return rc;
    if (file->real->pMethods->iVersion < 2) return SQLITE_OK;
    return file->real->pMethods->xShmUnmap(file->real, delete);
}

static int walFetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out) {
    WalFile *file = (WalFile *)f;
    *out = NULL;
    int rc = flush(file);
    if (rc != SQLITE_OK) return rc;
    if (file->real->pMethods->iVersion < 3) return SQLITE_OK;
    return file->real->pMethods->xFetch(file->real, offset, amount, out);
}

static int walUnfetch(sqlite3_file *f, sqlite3_int64 offset, void *pointer) {
    WalFile *file = (WalFile *)f;
    if (file->real->pMethods->iVersion < 3) return SQLITE_OK;
    return file->real->pMethods->xUnfetch(file->real, offset, pointer);
}

static const sqlite3_io_methods walMethods = {
    3,
    walClose,
    walRead,
    walWrite,
    walTruncate,
    walSync,
    walFileSize,
    walLock,
    walUnlock,
    walCheckReservedLock,
    walFileControl,
    walSectorSize,
    walDeviceCharacteristics,
    walShmMap,
    walShmLock,
    walShmBarrier,
    walShmUnmap,
    walFetch,
    walUnfetch,
};

static int spoolOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *outFlags) {
    (void)vfs;
    if ((flags & SQLITE_OPEN_WAL) == 0) {
        // The spool VFS's files are larger than the default VFS's: it fits.
        return defaultVfs->xOpen(defaultVfs, name, f, flags, outFlags);
    }
    WalFile *file = (WalFile *)f;
    memset(file, 0, sizeof *file);
    file->real = (sqlite3_file *)&file[1];
    int rc = defaultVfs->xOpen(defaultVfs, name, file->real, flags, outFlags);
    if (rc != SQLITE_OK) {
        if (file->real->pMethods != NULL) file->real->pMethods->xClose(file->real);
        file->base.pMethods = NULL;
        return rc;
    }
    file->base.pMethods = &walMethods;
    return SQLITE_OK;
}

static pthread_once_t registration = PTHREAD_ONCE_INIT;
static int registered = SQLITE_ERROR;

static void registerOnce(void) {
    defaultVfs = sqlite3_vfs_find(NULL);
    if (defaultVfs == NULL) return;
    // Every method but xOpen is the default VFS's own. Those of the unix VFS do not use their
    // sqlite3_vfs argument beyond mxPathname, which the copy keeps.
    spoolVfs = *defaultVfs;
    spoolVfs.pNext = NULL;
    spoolVfs.zName = spool_vfs_name;
    spoolVfs.szOsFile = (int)sizeof(WalFile) + defaultVfs->szOsFile;
    spoolVfs.xOpen = spoolOpen;
    registered = sqlite3_vfs_register(&spoolVfs, 0);
}

int spool_vfs_register(void) {
    pthread_once(&registration, registerOnce);
    return registered;
}
