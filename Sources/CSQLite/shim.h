#ifndef SPOOL_CSQLITE_SHIM_H
#define SPOOL_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a function-pointer cast that Swift cannot import.
static inline sqlite3_destructor_type spool_sqlite_transient(void) { return SQLITE_TRANSIENT; }

// sqlite3_db_config is variadic, which Swift cannot call. SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE
// (3.16+): closing the last connection leaves the WAL as it is instead of checkpointing it.
static inline int spool_sqlite_no_checkpoint_on_close(sqlite3 *db, int on) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on, (int *)0);
}
// SQLITE_DBCONFIG_DEFENSIVE (3.26+) forbids writable_schema; some builds of SQLite switch it on
// by default. Migration 6 edits a CHECK constraint's text through writable_schema, so the
// connection that migrates switches it off while it migrates. Returns the previous setting.
static inline int spool_sqlite_defensive(sqlite3 *db, int on) {
    int previous = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &previous);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, on, (int *)0);
    return previous;
}
#endif
