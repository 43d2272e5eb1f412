// The power-cut simulator's recorder: see include/powercut.h. Written for Spool's tests; it
// wraps whatever VFS is the default (unix on Linux and Apple platforms) and forwards every call.
#include "powercut.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>

typedef struct {
    sqlite3_file base;
    sqlite3_file *real;     // the wrapped VFS's file, allocated right after this struct
    int file;               // recorded file index, or -1 when passing through
    int dirsyncPending;     // the unix VFS would sync the directory at this file's first sync
} PCFile;

static sqlite3_vfs pcVFS;
static sqlite3_vfs *realVFS;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *directory;     // with a trailing "/", or NULL when not recording
static size_t directoryLength;
static powercut_event *events;
static size_t eventCount, eventCapacity;
static char **names;
static int *present;
static int nameCount, nameCapacity;
static int skipDirsync;
static int syncsToFail;

static void append2(int kind, int file, int other, int64_t offset, int64_t length, const void *data) {
    if (eventCount == eventCapacity) {
        eventCapacity = eventCapacity ? eventCapacity * 2 : 1024;
        events = realloc(events, eventCapacity * sizeof *events);
        if (!events) abort();
    }
    uint8_t *copy = NULL;
    if (length > 0) {
        copy = malloc((size_t)length);
        if (!copy) abort();
        memcpy(copy, data, (size_t)length);
    }
    events[eventCount++] = (powercut_event){ kind, file, other, offset, length, copy };
}
static void append(int kind, int file, int64_t offset, int64_t length, const void *data) {
    append2(kind, file, -1, offset, length, data);
}

// The index of a recorded path (under the lock), or -1 for a file outside the directory.
static int fileIndex(const char *path) {
    if (!directory || !path || strncmp(path, directory, directoryLength) != 0) return -1;
    const char *name = path + directoryLength;
    for (int i = 0; i < nameCount; i++) if (strcmp(names[i], name) == 0) return i;
    if (nameCount == nameCapacity) {
        nameCapacity = nameCapacity ? nameCapacity * 2 : 16;
        names = realloc(names, nameCapacity * sizeof *names);
        present = realloc(present, nameCapacity * sizeof *present);
        if (!names || !present) abort();
    }
    names[nameCount] = strdup(name);
    present[nameCount] = 0;
    return nameCount++;
}

// MARK: - The file's methods

static int pcClose(sqlite3_file *f) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xClose(p->real);
}
static int pcRead(sqlite3_file *f, void *buffer, int amount, sqlite3_int64 offset) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xRead(p->real, buffer, amount, offset);
}
static int pcWrite(sqlite3_file *f, const void *buffer, int amount, sqlite3_int64 offset) {
    PCFile *p = (PCFile *)f;
    if (p->file < 0) return p->real->pMethods->xWrite(p->real, buffer, amount, offset);
    pthread_mutex_lock(&lock);
    int rc = p->real->pMethods->xWrite(p->real, buffer, amount, offset);
    if (rc == SQLITE_OK && directory) append(POWERCUT_WRITE, p->file, offset, amount, buffer);
    pthread_mutex_unlock(&lock);
    return rc;
}
static int pcTruncate(sqlite3_file *f, sqlite3_int64 size) {
    PCFile *p = (PCFile *)f;
    if (p->file < 0) return p->real->pMethods->xTruncate(p->real, size);
    pthread_mutex_lock(&lock);
    int rc = p->real->pMethods->xTruncate(p->real, size);
    if (rc == SQLITE_OK && directory) append(POWERCUT_TRUNCATE, p->file, size, 0, NULL);
    pthread_mutex_unlock(&lock);
    return rc;
}
static int pcSync(sqlite3_file *f, int flags) {
    PCFile *p = (PCFile *)f;
    if (p->file < 0) return p->real->pMethods->xSync(p->real, flags);
    // Logged, not performed: the model decides what a sync made durable.
    pthread_mutex_lock(&lock);
    if (syncsToFail > 0) {
        syncsToFail--;
        pthread_mutex_unlock(&lock);
        return SQLITE_IOERR_FSYNC;
    }
    if (directory) {
        append(POWERCUT_SYNC, p->file, 0, 0, NULL);
        // os_unix.c: the first sync of a WAL or journal opened with SQLITE_OPEN_CREATE also
        // fsyncs its directory (unless SQLite was built with SQLITE_DISABLE_DIRSYNC).
        if (p->dirsyncPending && !skipDirsync) append(POWERCUT_DIRSYNC, -1, 0, 0, NULL);
    }
    p->dirsyncPending = 0;
    pthread_mutex_unlock(&lock);
    return SQLITE_OK;
}
static int pcFileSize(sqlite3_file *f, sqlite3_int64 *size) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xFileSize(p->real, size);
}
static int pcLock(sqlite3_file *f, int level) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xLock(p->real, level);
}
static int pcUnlock(sqlite3_file *f, int level) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xUnlock(p->real, level);
}
static int pcCheckReservedLock(sqlite3_file *f, int *out) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xCheckReservedLock(p->real, out);
}
static int pcFileControl(sqlite3_file *f, int op, void *arg) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xFileControl(p->real, op, arg);
}
static int pcSectorSize(sqlite3_file *f) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xSectorSize(p->real);
}
static int pcDeviceCharacteristics(sqlite3_file *f) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xDeviceCharacteristics(p->real);
}
// The -shm file is mapped by the unix VFS itself and is not durable state (SQLite rebuilds the
// wal-index from the WAL): these pass through and are not recorded.
static int pcShmMap(sqlite3_file *f, int page, int size, int extend, void volatile **out) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xShmMap(p->real, page, size, extend, out);
}
static int pcShmLock(sqlite3_file *f, int offset, int n, int flags) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xShmLock(p->real, offset, n, flags);
}
static void pcShmBarrier(sqlite3_file *f) {
    PCFile *p = (PCFile *)f;
    p->real->pMethods->xShmBarrier(p->real);
}
static int pcShmUnmap(sqlite3_file *f, int deleteFlag) {
    PCFile *p = (PCFile *)f;
    return p->real->pMethods->xShmUnmap(p->real, deleteFlag);
}
// Memory-mapped reads stay off (mmap_size 0): SQLite then never calls these.
static int pcFetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out) {
    (void)f; (void)offset; (void)amount;
    *out = 0;
    return SQLITE_OK;
}
static int pcUnfetch(sqlite3_file *f, sqlite3_int64 offset, void *pointer) {
    (void)f; (void)offset; (void)pointer;
    return SQLITE_OK;
}

static const sqlite3_io_methods pcMethods = {
    3, pcClose, pcRead, pcWrite, pcTruncate, pcSync, pcFileSize, pcLock, pcUnlock,
    pcCheckReservedLock, pcFileControl, pcSectorSize, pcDeviceCharacteristics,
    pcShmMap, pcShmLock, pcShmBarrier, pcShmUnmap, pcFetch, pcUnfetch,
};

// MARK: - The VFS's methods

static int pcOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *outFlags) {
    (void)vfs;
    PCFile *p = (PCFile *)f;
    p->real = (sqlite3_file *)(p + 1);
    p->file = -1;
    p->dirsyncPending = 0;
    p->base.pMethods = 0;
    pthread_mutex_lock(&lock);
    int file = fileIndex(name);
    int existed = file >= 0 && access(name, F_OK) == 0;
    int rc = realVFS->xOpen(realVFS, name, p->real, flags, outFlags);
    if (rc == SQLITE_OK && file >= 0) {
        p->file = file;
        int type = flags & 0x0FFFFF00;
        p->dirsyncPending = (flags & SQLITE_OPEN_CREATE)
            && (type == SQLITE_OPEN_WAL || type == SQLITE_OPEN_MAIN_JOURNAL || type == SQLITE_OPEN_SUPER_JOURNAL);
        if (!existed || !present[file]) {
            // A name new to the directory. One made outside SQLite (the spool's own O_CREAT)
            // is seen here, at its first open, with whatever it already holds.
            append(POWERCUT_CREATE, file, 0, 0, NULL);
            present[file] = 1;
            sqlite3_int64 size = 0;
            if (existed && p->real->pMethods->xFileSize(p->real, &size) == SQLITE_OK && size > 0) {
                void *bytes = malloc((size_t)size);
                if (bytes && p->real->pMethods->xRead(p->real, bytes, (int)size, 0) == SQLITE_OK) {
                    append(POWERCUT_WRITE, file, 0, size, bytes);
                }
                free(bytes);
            }
        }
    }
    pthread_mutex_unlock(&lock);
    if (rc == SQLITE_OK) p->base.pMethods = &pcMethods;
    return rc;
}
static int pcDelete(sqlite3_vfs *vfs, const char *name, int syncDir) {
    (void)vfs;
    pthread_mutex_lock(&lock);
    int file = fileIndex(name);
    int rc = realVFS->xDelete(realVFS, name, file >= 0 ? 0 : syncDir);
    if (rc == SQLITE_OK && file >= 0) {
        append(POWERCUT_DELETE, file, 0, 0, NULL);
        present[file] = 0;
        if (syncDir && !skipDirsync) append(POWERCUT_DIRSYNC, -1, 0, 0, NULL);
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
static int pcAccess(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    (void)vfs;
    return realVFS->xAccess(realVFS, name, flags, out);
}
static int pcFullPathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return realVFS->xFullPathname(realVFS, name, size, out);
}
static void *pcDlOpen(sqlite3_vfs *vfs, const char *name) { (void)vfs; return realVFS->xDlOpen(realVFS, name); }
static void pcDlError(sqlite3_vfs *vfs, int n, char *out) { (void)vfs; realVFS->xDlError(realVFS, n, out); }
static void (*pcDlSym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
    (void)vfs;
    return realVFS->xDlSym(realVFS, handle, symbol);
}
static void pcDlClose(sqlite3_vfs *vfs, void *handle) { (void)vfs; realVFS->xDlClose(realVFS, handle); }
static int pcRandomness(sqlite3_vfs *vfs, int n, char *out) { (void)vfs; return realVFS->xRandomness(realVFS, n, out); }
static int pcSleep(sqlite3_vfs *vfs, int microseconds) { (void)vfs; return realVFS->xSleep(realVFS, microseconds); }
static int pcCurrentTime(sqlite3_vfs *vfs, double *out) { (void)vfs; return realVFS->xCurrentTime(realVFS, out); }
static int pcGetLastError(sqlite3_vfs *vfs, int n, char *out) { (void)vfs; return realVFS->xGetLastError(realVFS, n, out); }
static int pcCurrentTimeInt64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    return realVFS->xCurrentTimeInt64(realVFS, out);
}

int powercut_register(void) {
    pthread_mutex_lock(&lock);
    int rc = SQLITE_OK;
    if (!realVFS) {
        sqlite3_vfs *found = sqlite3_vfs_find(0);
        if (!found || found->iVersion < 2) {
            rc = SQLITE_ERROR;
        } else {
            realVFS = found;
            pcVFS = (sqlite3_vfs){
                2, (int)sizeof(PCFile) + found->szOsFile, found->mxPathname, 0, "powercut", 0,
                pcOpen, pcDelete, pcAccess, pcFullPathname, pcDlOpen, pcDlError, pcDlSym, pcDlClose,
                pcRandomness, pcSleep, pcCurrentTime, pcGetLastError, pcCurrentTimeInt64,
            };
            rc = sqlite3_vfs_register(&pcVFS, 0);
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void powercut_begin(const char *path) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < eventCount; i++) free((void *)events[i].data);
    eventCount = 0;
    for (int i = 0; i < nameCount; i++) free(names[i]);
    nameCount = 0;
    free(directory);
    directoryLength = strlen(path) + 1;
    directory = malloc(directoryLength + 1);
    if (!directory) abort();
    memcpy(directory, path, directoryLength - 1);
    directory[directoryLength - 1] = '/';
    directory[directoryLength] = 0;
    pthread_mutex_unlock(&lock);
}

void powercut_end(void) {
    pthread_mutex_lock(&lock);
    free(directory);
    directory = NULL;
    directoryLength = 0;
    pthread_mutex_unlock(&lock);
}

size_t powercut_event_count(void) {
    pthread_mutex_lock(&lock);
    size_t n = eventCount;
    pthread_mutex_unlock(&lock);
    return n;
}
powercut_event powercut_event_at(size_t index) {
    pthread_mutex_lock(&lock);
    powercut_event e = events[index];
    pthread_mutex_unlock(&lock);
    return e;
}
int powercut_file_count(void) { return nameCount; }
const char *powercut_file_name(int file) { return names[file]; }
void powercut_set_skip_dirsync(int skip) { skipDirsync = skip; }
void powercut_fail_next_syncs(int count) {
    pthread_mutex_lock(&lock);
    syncsToFail = count;
    pthread_mutex_unlock(&lock);
}

// MARK: - Changes outside SQLite

void powercut_note_create(const char *path) {
    pthread_mutex_lock(&lock);
    int file = fileIndex(path);
    if (file >= 0) {
        append(POWERCUT_CREATE, file, 0, 0, NULL);
        present[file] = 1;
    }
    pthread_mutex_unlock(&lock);
}
void powercut_note_delete(const char *path) {
    pthread_mutex_lock(&lock);
    int file = fileIndex(path);
    if (file >= 0 && present[file]) {
        append(POWERCUT_DELETE, file, 0, 0, NULL);
        present[file] = 0;
    }
    pthread_mutex_unlock(&lock);
}
void powercut_note_rename(const char *from, const char *to) {
    pthread_mutex_lock(&lock);
    int source = fileIndex(from), target = fileIndex(to);
    if (source >= 0 && target >= 0 && present[source]) {
        append2(POWERCUT_RENAME, source, target, 0, 0, NULL);
        present[source] = 0;
        present[target] = 1;
    }
    pthread_mutex_unlock(&lock);
}
void powercut_note_link(const char *from, const char *to) {
    pthread_mutex_lock(&lock);
    int source = fileIndex(from), target = fileIndex(to);
    if (source >= 0 && target >= 0 && present[source]) {
        append2(POWERCUT_LINK, source, target, 0, 0, NULL);
        present[target] = 1;
    }
    pthread_mutex_unlock(&lock);
}
void powercut_note_dirsync(const char *path) {
    pthread_mutex_lock(&lock);
    if (directory && strlen(path) == directoryLength - 1 && strncmp(path, directory, directoryLength - 1) == 0 && !skipDirsync) {
        append(POWERCUT_DIRSYNC, -1, 0, 0, NULL);
    }
    pthread_mutex_unlock(&lock);
}
void powercut_note_write(const char *path, int64_t offset, const uint8_t *data, int64_t length) {
    pthread_mutex_lock(&lock);
    int file = fileIndex(path);
    if (file >= 0) append(POWERCUT_WRITE, file, offset, length, data);
    pthread_mutex_unlock(&lock);
}
void powercut_note_sync(const char *path) {
    pthread_mutex_lock(&lock);
    int file = fileIndex(path);
    if (file >= 0) append(POWERCUT_SYNC, file, 0, 0, NULL);
    pthread_mutex_unlock(&lock);
}
