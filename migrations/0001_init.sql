-- Spool schema, version 1: the write-ahead table, sink positions and leases, dead letters, drops.
-- Applied inside one IMMEDIATE transaction; PRAGMA user_version records the version.
-- Must run on SQLite 3.31+: no STRICT tables, no RETURNING.

-- Marks the file as a spool ("SPOL"), so a foreign SQLite database is never mistaken for one.
PRAGMA application_id = 1397772108;

-- Every accepted log entry, in append order. Ids are never reused (see meta.id_floor), so a
-- sink position can never point past a future entry.
CREATE TABLE entries (
    id      INTEGER PRIMARY KEY,
    ts_ns   INTEGER NOT NULL,                 -- event time, Unix nanoseconds
    level   TEXT    NOT NULL CHECK (level IN ('trace','debug','info','notice','warning','error','critical')),
    topic   TEXT    NOT NULL,                 -- dot-separated, e.g. dsp.pipeline.filter.init
    message TEXT    NOT NULL,
    context TEXT,                             -- a JSON object, or NULL
    schema  TEXT    NOT NULL DEFAULT 'spool/log/v1'
);

-- One row per destination. Every entry with id <= position was delivered or dead-lettered
-- for this sink. The lease lets one forwarder per sink run at a time, across processes.
CREATE TABLE sinks (
    name             TEXT PRIMARY KEY,
    position         INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_ns INTEGER,
    created_ns       INTEGER NOT NULL,
    delivered        INTEGER NOT NULL DEFAULT 0, -- entries acknowledged by the destination
    dead_lettered    INTEGER NOT NULL DEFAULT 0  -- entries the destination rejected for good
);

-- What a destination rejected for good, with the original entry's columns.
CREATE TABLE dead_letters (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sink      TEXT    NOT NULL,
    entry_id  INTEGER NOT NULL,
    ts_ns     INTEGER NOT NULL,
    level     TEXT    NOT NULL,
    topic     TEXT    NOT NULL,
    message   TEXT    NOT NULL,
    context   TEXT,
    schema    TEXT    NOT NULL,
    status    INTEGER,                        -- HTTP status, NULL when the failure was not HTTP
    reason    TEXT    NOT NULL,               -- bounded excerpt of the response
    attempts  INTEGER NOT NULL,
    failed_ns INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_sink ON dead_letters (sink, entry_id);

-- Every entry removed without delivery: overflow of the size bound. Never silent.
CREATE TABLE drops (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ns    INTEGER NOT NULL,
    reason   TEXT    NOT NULL,                -- e.g. overflow:dropOldest, overflow:dropNewest
    count    INTEGER NOT NULL,
    first_id INTEGER,                         -- id range of dropped stored entries (NULL for dropNewest)
    last_id  INTEGER,
    bytes    INTEGER NOT NULL DEFAULT 0
);

-- Small facts about the spool, one row each.
--   id_floor: the highest entry id ever deleted. Entries are only deleted as a prefix, so the
--   table's max(id) is above it unless the table is empty; an insert into an empty table
--   continues from id_floor + 1. (AUTOINCREMENT would do the same, at the cost of writing its
--   sqlite_sequence page on every commit, which measured 25% slower appends.)
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('id_floor', 0);
