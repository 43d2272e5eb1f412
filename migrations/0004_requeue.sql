-- Spool schema, version 4: requeued dead letters, addressed to one sink.
-- `spool dlq requeue` re-inserts dead-lettered entries as new entries (new ids, the original
-- event time, level, topic, message and context) for the sink that rejected them only. Every
-- other sink already passed the originals, so its claims skip these rows and its position moves
-- over them; the rows are deleted, like any entry, once every sink's position has passed them.

-- The one sink this entry is for; NULL (every entry appended by a logger) means every sink.
ALTER TABLE entries ADD COLUMN only_sink TEXT;

-- The views count an addressed entry as pending for its own sink only.
DROP VIEW pending;
CREATE VIEW pending AS
SELECT s.name AS sink,
       e.id,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.ts_ns / 1e9, 'unixepoch') AS time,
       e.level, e.topic, e.message, e.context
FROM sinks AS s
JOIN entries AS e ON e.id > s.position AND (e.only_sink IS NULL OR e.only_sink = s.name);

DROP VIEW sink_status;
CREATE VIEW sink_status AS
SELECT s.name AS sink,
       s.position,
       (SELECT count(*) FROM entries WHERE id > s.position AND (only_sink IS NULL OR only_sink = s.name)) AS pending,
       (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ts_ns / 1e9, 'unixepoch')
          FROM entries WHERE id > s.position AND (only_sink IS NULL OR only_sink = s.name) ORDER BY id LIMIT 1) AS oldest_pending_time,
       (SELECT round(julianday('now') * 86400.0 - 210866760000.0 - ts_ns / 1e9, 3)
          FROM entries WHERE id > s.position AND (only_sink IS NULL OR only_sink = s.name) ORDER BY id LIMIT 1) AS oldest_pending_age_s,
       s.delivered,
       s.dead_lettered,
       s.lease_owner,
       CASE WHEN s.lease_expires_ns IS NULL THEN NULL
            ELSE strftime('%Y-%m-%dT%H:%M:%fZ', s.lease_expires_ns / 1e9, 'unixepoch') END AS lease_expires
FROM sinks AS s;
