-- UTC days (`day` = started_at / 86400000) some of whose call records retention deleted while
-- their rollups stayed: those records are counted in `call_rollups` already, so `tollgate
-- archive import` puts them back without counting them again. Records of any other day (a new
-- database, a day `stats rebuild` recomputed from the records left) are rolled up as they are
-- imported. Seeded from the days retention had deleted records of before this table.
CREATE TABLE rollups_archived_days (
    day BIGINT PRIMARY KEY
);
INSERT INTO rollups_archived_days (day) SELECT DISTINCT day FROM calls_spend_archived;
