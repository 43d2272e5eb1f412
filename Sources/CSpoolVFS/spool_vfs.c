// The "spool" VFS: the default VFS, with each WAL frame written in one system call.
//
// Why: SQLite writes each WAL frame with two pwrite calls, the 24-byte frame header and then the
// page, and a frame (page size + 24 bytes) straddles two pages of the file. A committed-mode
// group commit of eight small appends writes two or three frames: four to six system calls on
// the leader's critical path while seven callers wait. Here a frame's header waits for its page
// and both reach the file in one pwrite.
//
// The invariant: nothing is held once SQLite has written a page. The only bytes ever held are
// one frame header, from its write until the next call on the file, which in SQLite's
// walWriteOneFrame is always the write of that frame's page (the header at offset o, the page
// at o + 24); any other call writes the header first. SQLite publishes frames through the
// wal-index only after their pages are written, and releases its write lock after that, so no
// reader and no other writer can meet a held header, and a transaction that rolls back leaves
// nothing behind. A header is held only when it continues this file's previous write (a new
// frame appended after the last); a header rewritten in place (walRewriteChecksums, after a
// transaction wrote a page twice) is written at once. A failed write fails the page's write,
// and SQLite rolls the transaction back.
//
// An earlier version collected a whole transaction's frames in a 64 KiB buffer and wrote them
// after the commit frame. A review found that unsafe: a rewritten commit header could stay
// buffered after COMMIT, and the frames a rolled-back transaction had spilled stayed buffered
// past the release of the write lock, to be written later over another process's frames.
//
// Everything else (the database file, journals, locks, shared memory) is the default VFS's:
// a database or journal file is opened by the default VFS directly in the space SQLite
// allocated, and only WAL files get the methods below.
#include "CSpoolVFS.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

const char *const spool_vfs_name = "spool";

enum { frameHeaderBytes = 24 };

typedef struct WalFile {
    sqlite3_file base;
    /// The default VFS's file, in the same allocation right after this struct.
    sqlite3_file *real;
    /// A frame header waiting for its page, at `heldOffset`, when `holding`.
    unsigned char header[frameHeaderBytes];
    int holding;
    sqlite3_int64 heldOffset;
    /// Where this file's last write ended: a new frame's header starts there.
    sqlite3_int64 end;
    /// Header and page, copied together for one write; made at the first frame.
    unsigned char *frame;
    int frameCapacity;
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
    int rc = file->real->pMethods->xWrite(file->real, data, amount, offset);
    if (rc == SQLITE_OK) file->end = offset + amount;
    return rc;
}

/// Writes a held header, if any. Every call on the file but the page's write starts here.
static int flush(WalFile *file) {
    if (!file->holding) return SQLITE_OK;
    file->holding = 0;
    return writeThrough(file, file->header, frameHeaderBytes, file->heldOffset);
}

static int walWrite(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset) {
    WalFile *file = (WalFile *)f;
    if (file->holding && offset == file->heldOffset + frameHeaderBytes && amount > 0) {
        // The page of the held header: both in one write.
        int total = frameHeaderBytes + amount;
        if (file->frameCapacity < total) {
            sqlite3_free(file->frame);
            file->frame = sqlite3_malloc(total);
            file->frameCapacity = file->frame ? total : 0;
        }
        if (file->frame != NULL) {
            memcpy(file->frame, file->header, frameHeaderBytes);
            memcpy(file->frame + frameHeaderBytes, data, (size_t)amount);
            file->holding = 0;
            return writeThrough(file, file->frame, total, file->heldOffset);
        }
    }
    int rc = flush(file);
    if (rc != SQLITE_OK) return rc;
    if (amount == frameHeaderBytes && offset == file->end && offset > 0) {
        memcpy(file->header, data, frameHeaderBytes);
        file->heldOffset = offset;
        file->holding = 1;
        return SQLITE_OK;
    }
    return writeThrough(file, data, amount, offset);
}

static int walClose(sqlite3_file *f) {
    WalFile *file = (WalFile *)f;
    int rc = flush(file);
    int closed = file->real->pMethods->xClose(file->real);
    sqlite3_free(file->frame);
    file->frame = NULL;
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
// completeness, after a flush like every other method.
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
