package standin

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// FerretDB 1.x on PostgreSQL keeps each document in a jsonb column, _jsonb, and turns
// every index into a btree over expressions such as (_jsonb -> 'userId'). Its queries,
// though, filter with containment, _jsonb -> 'userId' @> '"u1"', an operator btree cannot
// serve: without help every find, by _id included, reads the whole table.
//
// ginTwinsSQL makes PostgreSQL give each such btree index a GIN twin over the same
// expressions (jsonb_path_ops answers @>), when FerretDB creates it (an event trigger on
// CREATE INDEX) and for the indexes that exist already. So the indexes the services declare
// with createIndexes serve their queries, as they would on MongoDB. Equality on _id in
// FerretDB's own UPDATE and DELETE statements keeps using the btree.
//
// The twins are made without GIN's pending list (fastupdate = off): with it, every lookup
// also read the list of recent entries, up to 4 MB of them, and under the bench's writes
// index scans took 29% of PostgreSQL's CPU.
//
// Every update of an indexed field rewrites _jsonb, so PostgreSQL cannot make it a HOT
// update: the old version stays in the twins, and in the heap, until VACUUM. Left to the
// defaults (a table is vacuumed once a fifth of it is dead), a ticket listing read 4 times as
// many heap blocks after a few thousand reservations as before, with the same live rows. So
// the tables with twins are vacuumed once a few hundred of their rows are dead, with no cost
// delay; how soon that is also depends on the server's autovacuum_naptime (a minute by
// default; the dev stack's own cluster runs with one second).
//
// Dropped indexes keep their twin until their table is dropped: the services never drop
// an index.
const ginTwinsSQL = `
CREATE OR REPLACE FUNCTION standin_gin_twin(idx oid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	i pg_index;
	cols text := '';
	col text;
	twin text;
BEGIN
	SELECT * INTO i FROM pg_index WHERE indexrelid = idx;
	IF NOT FOUND OR (SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.oid = idx) <> 'btree' THEN
		RETURN;
	END IF;
	FOR k IN 1 .. i.indnkeyatts LOOP
		col := pg_get_indexdef(idx, k, false);
		IF col !~ '^\(+_jsonb (->|#>) ' THEN
			RETURN; -- not one of FerretDB's document indexes
		END IF;
		cols := cols || CASE WHEN k > 1 THEN ', ' ELSE '' END || col || ' jsonb_path_ops';
	END LOOP;
	twin := left((SELECT relname FROM pg_class WHERE oid = idx), 59) || '_gin';
	EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin (%s) WITH (fastupdate = off)',
		twin, i.indrelid::regclass, cols);
	EXECUTE format('ALTER INDEX %I.%I SET (fastupdate = off)',
		(SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE c.oid = i.indrelid), twin);
	EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 200, '
		'autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000, '
		'autovacuum_analyze_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0)', i.indrelid::regclass);
END $$;

CREATE OR REPLACE FUNCTION standin_gin_twin_trigger() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
		PERFORM standin_gin_twin(r.objid);
	END LOOP;
END $$;

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'standin_gin_twin') THEN
		CREATE EVENT TRIGGER standin_gin_twin ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
			EXECUTE FUNCTION standin_gin_twin_trigger();
	END IF;
END $$;

SELECT standin_gin_twin(i.indexrelid) FROM pg_index i
	JOIN pg_class t ON t.oid = i.indrelid
	JOIN pg_namespace n ON n.oid = t.relnamespace
	WHERE n.nspname NOT IN ('pg_catalog', 'information_schema');
`

// installGINTwins runs ginTwinsSQL in the database at dbURL. Event triggers need a
// superuser; without one the stand-in still works, with sequential scans.
func installGINTwins(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("standin: connect to PostgreSQL for the GIN indexes: %w", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, ginTwinsSQL); err != nil {
		return fmt.Errorf("standin: install the GIN index trigger: %w", err)
	}
	return nil
}
