#ifndef SPOOL_CSPOOLVFS_H
#define SPOOL_CSPOOLVFS_H

/// Registers the "spool" VFS (once; later calls return the first result): the default VFS,
/// writing each WAL frame in one call (see spool_vfs.c). Returns an SQLite result code.
int spool_vfs_register(void);

/// The name to pass to sqlite3_open_v2 once spool_vfs_register() returned SQLITE_OK.
extern const char *const spool_vfs_name;

/// Writes to WAL files that the calling thread passed to the file system, for tests.
long long spool_vfs_wal_writes_on_this_thread(void);

#endif
