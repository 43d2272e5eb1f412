// group-commit-ceiling: what committed-mode group commit can reach on this machine, without Swift.
//
// N threads append rows of the spool's shape (a 200-byte message, a small JSON context) to a WAL
// database with synchronous=NORMAL (or FULL, as `fsync` mode), each returning only after its row's commit, through the
// same design as Store/GroupCommit.swift: a caller that finds no commit under way leads one,
// first yielding until as many callers wait as the threads (or until arrivals stop), and the
// others wait for their round, spinning with sched_yield up to --spin times before they sleep
// on a condition variable. A background thread runs a PASSIVE checkpoint every 20 ms, and past
// 16,000 WAL pages a RESTART with the writers held back (the spool's checkpointer wakes per 1000
// new WAL pages instead; the work is of the same kind).
//
//   cc -O2 -o /tmp/group-commit-ceiling tools/group-commit-ceiling.c -lsqlite3 -lpthread
//   /tmp/group-commit-ceiling --threads 8 --spin 256      # waiters spin, then sleep
//   /tmp/group-commit-ceiling --threads 8 --spin 0        # waiters sleep at once
//   /tmp/group-commit-ceiling --threads 1 --synchronous full   # fsync mode
//
// Prints rows/s and rows per commit after --seconds (default 3). BENCHMARKS.md quotes it next to
// `spool bench append` measured in the same series.
#include <pthread.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { maxThreads = 64, maxRows = 1024 };

static sqlite3 *db;
static sqlite3_stmt *insertRow, *beginStatement, *commitStatement;
static pthread_mutex_t lane = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t roundDone = PTHREAD_COND_INITIALIZER;
// Held around a commit, and around the checkpointer's second step (the spool's `exclusive`).
static pthread_mutex_t writer = PTHREAD_MUTEX_INITIALIZER;
static long issued, settledLocked, waitingRows, rounds, roundRows;
static _Atomic long settled;
static _Atomic int stopping;
static int leading, threads = 8, spin = 256, fullSync;
static double seconds = 3;
static char path[] = "/tmp/group-commit-ceiling.db";
static const char *message;
static long appended[maxThreads];

static void checkOn(sqlite3 *connection, int rc, int expected, const char *what) {
    if (rc != expected) { fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(connection)); exit(1); }
}

static void check(int rc, int expected, const char *what) { checkOn(db, rc, expected, what); }

static void commitRows(long count, long firstTicket) {
    pthread_mutex_lock(&writer);
    check(sqlite3_step(beginStatement), SQLITE_DONE, "begin");
    sqlite3_reset(beginStatement);
    for (long i = 0; i < count; i++) {
        sqlite3_bind_int64(insertRow, 1, firstTicket + i);
        sqlite3_bind_text(insertRow, 2, "info", -1, SQLITE_STATIC);
        sqlite3_bind_text(insertRow, 3, "bench.ceiling", -1, SQLITE_STATIC);
        sqlite3_bind_text(insertRow, 4, message, -1, SQLITE_STATIC);
        sqlite3_bind_text(insertRow, 5, "{\"request_id\":\"8f14e45f\",\"attempt\":1}", -1, SQLITE_STATIC);
        sqlite3_bind_text(insertRow, 6, "spool/log/v1", -1, SQLITE_STATIC);
        check(sqlite3_step(insertRow), SQLITE_DONE, "insert");
        sqlite3_reset(insertRow);
    }
    check(sqlite3_step(commitStatement), SQLITE_DONE, "commit");
    sqlite3_reset(commitStatement);
    pthread_mutex_unlock(&writer);
}

static void *appender(void *argument) {
    long index = (long)argument;
    while (!atomic_load(&stopping)) {
        pthread_mutex_lock(&lane);
        long ticket = ++issued;
        waitingRows++;
        int spun = 0;
        for (;;) {
            if (settledLocked >= ticket) break;
            if (!leading) {
                leading = 1;
                // Gather company: yield until every thread waits, or four yields bring no one.
                long seen = waitingRows;
                for (int yields = 0, idle = 0; yields < 64 && seen < threads && idle < 4; yields++) {
                    pthread_mutex_unlock(&lane);
                    sched_yield();
                    pthread_mutex_lock(&lane);
                    idle = waitingRows == seen ? idle + 1 : 0;
                    seen = waitingRows;
                }
                long count = waitingRows, last = issued;
                waitingRows = 0;
                pthread_mutex_unlock(&lane);
                commitRows(count, last - count + 1);
                pthread_mutex_lock(&lane);
                rounds++;
                roundRows += count;
                settledLocked = last;
                atomic_store(&settled, last);
                leading = 0;
                pthread_cond_broadcast(&roundDone);
                continue;
            }
            if (!spun && spin > 0) {
                spun = 1;
                pthread_mutex_unlock(&lane);
                for (int i = 0; i < spin && atomic_load(&settled) < ticket; i++) sched_yield();
                pthread_mutex_lock(&lane);
                continue;
            }
            pthread_cond_wait(&roundDone, &lane);
        }
        pthread_mutex_unlock(&lane);
        appended[index]++;
    }
    return NULL;
}

static void *checkpointer(void *unused) {
    (void)unused;
    sqlite3 *connection;
    if (sqlite3_open(path, &connection) != SQLITE_OK) return NULL;
    sqlite3_busy_timeout(connection, 1000);
    // A connection that has never read the database does not know it is in WAL mode, and a
    // PASSIVE checkpoint on it does nothing: until session 8 this program never checkpointed
    // (its WAL grew to 835 MB in 3 s over a 4 KiB database) while the spool it is compared with
    // did. One read opens the WAL; every checkpoint after it copies frames into the database.
    checkOn(connection, sqlite3_exec(connection, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL), SQLITE_OK, "checkpointer read");
    while (!atomic_load(&stopping)) {
        int walFrames = 0, copied = 0;
        sqlite3_wal_checkpoint_v2(connection, NULL, SQLITE_CHECKPOINT_PASSIVE, &walFrames, &copied);
        // As the spool's checkpointer: PASSIVE never reaches the WAL's end under a steady stream
        // of commits, so past 16 x 1000 pages, when it left frames behind, a second step with
        // the writers held back and a 2 ms busy wait copies the last ones and starts the WAL over.
        if (walFrames >= 16000 && copied < walFrames) {
            sqlite3_busy_timeout(connection, 2);
            pthread_mutex_lock(&writer);
            sqlite3_wal_checkpoint_v2(connection, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
            pthread_mutex_unlock(&writer);
            sqlite3_busy_timeout(connection, 1000);
        }
        usleep(20000);
    }
    sqlite3_close(connection);
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--spin")) spin = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--synchronous")) fullSync = !strcmp(argv[i + 1], "full");
        else { fprintf(stderr, "usage: %s [--threads N] [--spin N] [--seconds S] [--synchronous normal|full]\n", argv[0]); return 2; }
    }
    if (threads < 1 || threads > maxThreads) { fprintf(stderr, "--threads: 1 to %d\n", maxThreads); return 2; }
    char *text = malloc(201);
    memset(text, 'x', 200);
    text[200] = 0;
    message = text;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
    check(sqlite3_open(path, &db), SQLITE_OK, "open");
    check(sqlite3_exec(db, fullSync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL, NULL), SQLITE_OK, "synchronous");
    check(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                           "CREATE TABLE entries (id INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL, level TEXT NOT NULL,"
                           " topic TEXT NOT NULL, message TEXT NOT NULL, context TEXT, schema TEXT NOT NULL);",
                       NULL, NULL, NULL), SQLITE_OK, "schema");
    check(sqlite3_prepare_v2(db, "INSERT INTO entries (ts_ns, level, topic, message, context, schema) VALUES (?, ?, ?, ?, ?, ?)",
                             -1, &insertRow, NULL), SQLITE_OK, "prepare");
    check(sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &beginStatement, NULL), SQLITE_OK, "prepare");
    check(sqlite3_prepare_v2(db, "COMMIT", -1, &commitStatement, NULL), SQLITE_OK, "prepare");
    pthread_t workers[maxThreads], background;
    pthread_create(&background, NULL, checkpointer, NULL);
    double start = now();
    for (long i = 0; i < threads; i++) pthread_create(&workers[i], NULL, appender, (void *)i);
    usleep((useconds_t)(seconds * 1e6));
    atomic_store(&stopping, 1);
    long total = 0;
    for (int i = 0; i < threads; i++) { pthread_join(workers[i], NULL); total += appended[i]; }
    double elapsed = now() - start;
    pthread_join(background, NULL);
    printf("group-commit-ceiling: %d threads, spin %d, synchronous=%s: %.0f rows/s, %.1f rows/commit\n",
           threads, spin, fullSync ? "FULL" : "NORMAL", total / elapsed, rounds ? (double)roundRows / rounds : 0);
    return 0;
}
