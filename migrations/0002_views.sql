-- Views for people in the sqlite3 shell: ISO-8601 UTC times, one row per question.
-- strftime's %f gives milliseconds; ts_ns / 1e9 keeps the fraction.

-- Every entry with a readable time.
CREATE VIEW entries_readable AS
SELECT id,
       strftime('%Y-%m-%dT%H:%M:%fZ', ts_ns / 1e9, 'unixepoch') AS time,
       level, topic, message, context, schema
FROM entries;

-- Entries not yet delivered (nor dead-lettered) to some sink: one row per (sink, entry).
CREATE VIEW pending AS
SELECT s.name AS sink,
       e.id,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.ts_ns / 1e9, 'unixepoch') AS time,
       e.level, e.topic, e.message, e.context
FROM sinks AS s
JOIN entries AS e ON e.id > s.position;

-- Per sink: position, pending count, oldest pending entry's time and age, lease holder.
CREATE VIEW sink_status AS
SELECT s.name AS sink,
       s.position,
       (SELECT count(*) FROM entries WHERE id > s.position) AS pending,
       (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', min(ts_ns) / 1e9, 'unixepoch')
          FROM entries WHERE id = (SELECT min(id) FROM entries WHERE id > s.position)) AS oldest_pending_time,
       (SELECT round(julianday('now') * 86400.0 - 210866760000.0 - ts_ns / 1e9, 3)
          FROM entries WHERE id = (SELECT min(id) FROM entries WHERE id > s.position)) AS oldest_pending_age_s,
       s.delivered,
       s.dead_lettered,
       s.lease_owner,
       CASE WHEN s.lease_expires_ns IS NULL THEN NULL
            ELSE strftime('%Y-%m-%dT%H:%M:%fZ', s.lease_expires_ns / 1e9, 'unixepoch') END AS lease_expires
FROM sinks AS s;

-- Dead letters with readable times.
CREATE VIEW dead_letters_readable AS
SELECT id, sink, entry_id, status, reason, attempts,
       strftime('%Y-%m-%dT%H:%M:%fZ', failed_ns / 1e9, 'unixepoch') AS failed_time,
       strftime('%Y-%m-%dT%H:%M:%fZ', ts_ns / 1e9, 'unixepoch') AS time,
       level, topic, message, context
FROM dead_letters;

-- Overflow drops with readable times.
CREATE VIEW drops_readable AS
SELECT id, strftime('%Y-%m-%dT%H:%M:%fZ', at_ns / 1e9, 'unixepoch') AS time,
       reason, count, first_id, last_id, bytes
FROM drops;
