-- Spool schema, version 7: books that balance per sink, and commit times for delivery latency.
--
-- Per sink, at every committed state:
--   accepted = delivered + dead_lettered + dropped + pending
-- where accepted = accepted_before + (high-water id - counted_from) - skipped. The high-water id
-- is max(max(entries.id), meta.id_floor): ids are given once each, consecutively, so every id
-- above counted_from was accepted while the sink existed. Nothing is written on the append path
-- for it; what changes a sink's books is written in the transaction that changes its rows.

-- Ids above this were accepted while the sink was registered (its position at registration).
ALTER TABLE sinks ADD COLUMN counted_from INTEGER NOT NULL DEFAULT 0;
-- Entries accepted before counted_from (for a sink that existed before this migration: what it
-- had delivered, dead-lettered and still had pending then; 0 for a sink registered later).
ALTER TABLE sinks ADD COLUMN accepted_before INTEGER NOT NULL DEFAULT 0;
-- Ids above counted_from addressed to another sink (requeued dead letters): never this sink's.
ALTER TABLE sinks ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
-- Entries removed before this sink passed them: at the size bound (or the disk's), and those a
-- destination accepted a request for but said it dropped (OTLP partial success).
ALTER TABLE sinks ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
-- The longest delivery latency recorded for this sink, nanoseconds (NULL before the first).
ALTER TABLE sinks ADD COLUMN latency_max_ns INTEGER;

-- Existing sinks start their books now: balanced by construction.
UPDATE sinks SET
    counted_from = max(COALESCE((SELECT max(id) FROM entries), 0), (SELECT value FROM meta WHERE key = 'id_floor')),
    accepted_before = delivered + dead_lettered
        + (SELECT count(*) FROM entries WHERE id > sinks.position AND (only_sink IS NULL OR only_sink = sinks.name));

-- One row per commit (at most one per millisecond per writer): the first entry id it inserted
-- and the wall-clock time of the transaction. An entry's commit time is that of the row with the
-- greatest first_id at or below its id. Rows go with the entries they describe.
CREATE TABLE commit_times (
    first_id INTEGER PRIMARY KEY,
    at_ns    INTEGER NOT NULL
);

-- Per sink, a histogram of delivery latency (commit to the acknowledgement that passed the entry):
-- how many entries had a latency at or below le_ns and above the next lower bucket's bound.
CREATE TABLE delivery_latency (
    sink  TEXT    NOT NULL,
    le_ns INTEGER NOT NULL,                   -- bucket's upper bound; 9223372036854775807 = +Inf
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (sink, le_ns)
) WITHOUT ROWID;

-- The books per sink, for people in the sqlite3 shell.
CREATE VIEW sink_books AS
SELECT s.name AS sink,
       s.accepted_before + max(COALESCE((SELECT max(id) FROM entries), 0), (SELECT value FROM meta WHERE key = 'id_floor'))
           - s.counted_from - s.skipped AS accepted,
       s.delivered,
       s.dead_lettered,
       s.dropped,
       (SELECT count(*) FROM entries WHERE id > s.position AND (only_sink IS NULL OR only_sink = s.name)) AS pending
FROM sinks AS s;
