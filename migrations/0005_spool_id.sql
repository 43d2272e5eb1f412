-- Spool schema, version 5: an identity for each spool file.
-- Nothing in a SQLite WAL names the database it belongs to: a -wal file copied beside another
-- spool (a restore that mixed files, a copy of a live directory) is applied as if it were that
-- spool's own, its pages replacing ours, and the first checkpoint writes them into the file.
-- At open, Spool reads this id from the database file alone and through the WAL: two different
-- ids mean the WAL belongs to another database, and the spool is set aside as damaged.
INSERT OR IGNORE INTO meta (key, value) VALUES ('spool_id', random());
