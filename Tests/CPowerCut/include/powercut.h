#ifndef SPOOL_POWERCUT_H
#define SPOOL_POWERCUT_H
// The power-cut simulator's recorder (test-only): a SQLite VFS named "powercut" that wraps the
// default (unix) VFS. For files under the directory being recorded, it logs every write,
// truncate, sync, creation and deletion, and the directory syncs SQLite's unix VFS makes after
// creating a WAL or journal, in the order they reached the file system. Syncs of recorded files
// are logged, not performed: what is durable is decided by the model, not by the disk.
// Every other file passes through untouched. What the spool does to its directory outside SQLite
// (creating its file, renames, links, removals, directory syncs) and what a workload does to a
// file by hand (damaging it) are noted through the powercut_note_* functions, in the same log.
#include <stddef.h>
#include <stdint.h>

enum {
    POWERCUT_WRITE = 1,
    POWERCUT_TRUNCATE = 2,
    POWERCUT_SYNC = 3,      // a file's data and size reached the disk
    POWERCUT_CREATE = 4,    // a name appeared in the directory (not durable until a DIRSYNC)
    POWERCUT_DELETE = 5,    // a name left the directory (not durable until a DIRSYNC)
    POWERCUT_DIRSYNC = 6,   // the directory's entries reached the disk
    POWERCUT_RENAME = 7,    // `file` was renamed to `other` (replacing it); not durable until a DIRSYNC
    POWERCUT_LINK = 8,      // `other` became a second name of `file`; not durable until a DIRSYNC
};

typedef struct {
    int kind;
    int file;               // index into the file names (-1 for DIRSYNC)
    int other;              // RENAME, LINK: the new name's index (-1 otherwise)
    int64_t offset;         // WRITE: where; TRUNCATE: the new size
    int64_t length;         // WRITE: how many bytes
    const uint8_t *data;    // WRITE: the bytes (owned by the recorder until the next begin)
} powercut_event;

/// Registers the VFS (not as the default). Returns a SQLite result code; calling it again is harmless.
int powercut_register(void);
/// Starts recording files whose full path starts with `directory` + "/", dropping any earlier log.
void powercut_begin(const char *directory);
/// Stops recording (the log stays readable until the next begin).
void powercut_end(void);
size_t powercut_event_count(void);
powercut_event powercut_event_at(size_t index);
int powercut_file_count(void);
/// The file's name relative to the recorded directory.
const char *powercut_file_name(int file);
/// Planted fault, for proving the checker: behave as if SQLite were built with
/// SQLITE_DISABLE_DIRSYNC (no directory sync after creating a WAL or journal).
void powercut_set_skip_dirsync(int skip);
/// Planted fault: the next `count` syncs of recorded files fail with SQLITE_IOERR_FSYNC (and are
/// not logged), as a failing disk's fsync does.
void powercut_fail_next_syncs(int count);

// Changes made outside SQLite, noted after they happened (full paths; paths outside the
// recorded directory are ignored). Each returns nothing and is harmless when not recording.
void powercut_note_create(const char *path);
void powercut_note_delete(const char *path);
void powercut_note_rename(const char *from, const char *to);
void powercut_note_link(const char *from, const char *to);
/// A directory sync: recorded when `directory` is the recorded directory.
void powercut_note_dirsync(const char *directory);
/// A write or sync by hand (a workload damaging a file).
void powercut_note_write(const char *path, int64_t offset, const uint8_t *data, int64_t length);
void powercut_note_sync(const char *path);
#endif
