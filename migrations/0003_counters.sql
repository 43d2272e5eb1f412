-- Spool schema, version 3: persisted counters for aggregating sinks (the Prometheus Pushgateway).
-- A restart must not reset a Prometheus counter, so the cumulative values live in the spool.

-- One row per (sink, level, topic): how many entries of that level and topic the sink counted.
-- The sink is the name of the registered sink that counted them (e.g. 'pushgateway').
CREATE TABLE counters (
    sink  TEXT    NOT NULL,
    level TEXT    NOT NULL,
    topic TEXT    NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, level, topic)
) WITHOUT ROWID;                              -- keyed by its primary key: one b-tree, no extra index

-- Per sink: every entry with id <= counted_through has been added to counters. Written in the
-- same transaction as the counts, so a batch claimed again (a retry, or after a crash between
-- counting and acknowledging) is never counted twice.
CREATE TABLE counter_marks (
    sink            TEXT PRIMARY KEY,
    counted_through INTEGER NOT NULL
) WITHOUT ROWID;
