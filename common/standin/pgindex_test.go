package standin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// freshDatabase creates a database on the PostgreSQL server of
// STANDIN_TEST_POSTGRES_URL (the machine's, by default), drops it at the end of
// the test, and returns its URL.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := cmp.Or(os.Getenv("STANDIN_TEST_POSTGRES_URL"), "postgres://postgres@127.0.0.1:5432/postgres")
	admin, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	name := fmt.Sprintf("standin_test_%d", os.Getpid())
	_, _ = admin.Exec(t.Context(), "DROP DATABASE IF EXISTS "+name)
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// explain returns FerretDB's explain of a find as JSON: its queryPlanner is PostgreSQL's plan.
func explain(t *testing.T, db *mongo.Database, coll string, filter bson.D) string {
	t.Helper()
	var res bson.M
	err := db.RunCommand(t.Context(), bson.D{
		{Key: "explain", Value: bson.D{{Key: "find", Value: coll}, {Key: "filter", Value: filter}}},
	}).Decode(&res)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res["queryPlanner"])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPostgreSQLFindsUseIndexes checks that on the PostgreSQL backend the finds FerretDB
// pushes down are answered from an index, for _id and for declared indexes, on tables
// created before and after the stand-in starts.
func TestPostgreSQLFindsUseIndexes(t *testing.T) {
	dbURL := freshDatabase(t)
	ctx := t.Context()

	// A table and index as FerretDB makes them, before the stand-in installs its trigger.
	pg, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	if _, err := pg.Exec(ctx, `CREATE SCHEMA old; CREATE TABLE old.t (_jsonb jsonb);
		CREATE UNIQUE INDEX t_id ON old.t USING btree ((_jsonb -> '_id'))`); err != nil {
		t.Fatal(err)
	}

	s := start(t, Options{Backend: BackendPostgreSQL, PostgreSQLURL: dbURL})
	db := connect(t, s.URI()).Database("app")
	coll := db.Collection("orders")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "userId", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: -1}}}); err != nil {
		t.Fatal(err)
	}
	// Run after run, FerretDB's finds must keep their index: in PostgreSQL's generic plan of
	// its prepared statement the field name is a parameter (_jsonb->$1 @> $2) and no index
	// matches; chosen while a table is small, it stays. FerretDB's connections use
	// ferretURL's settings; so does this one.
	u, err := ferretURL(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	like, err := pgx.Connect(ctx, WithoutPoolParams(u))
	if err != nil {
		t.Fatal(err)
	}
	defer like.Close(context.Background())
	var table string
	if err := pg.QueryRow(ctx, `SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'app' AND relname LIKE 'orders%'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // a small table, analysed: a scan is cheapest
		if _, err := coll.InsertOne(ctx, bson.M{"_id": fmt.Sprintf("p%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pg.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	if _, err := like.Prepare(ctx, "find", `SELECT _jsonb FROM app.`+table+` WHERE _jsonb->$1 @> $2`); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := like.Exec(ctx, "find", "_id", fmt.Sprintf(`"o%04d"`, i)); err != nil {
			t.Fatal(err)
		}
	}

	docs := make([]any, 2000)
	for i := range docs {
		docs[i] = bson.M{"_id": fmt.Sprintf("o%04d", i), "userId": fmt.Sprintf("u%d", i%100), "status": "created"}
	}
	if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
		t.Fatal(err)
	}
	plan, err := like.Query(ctx, `EXPLAIN EXECUTE find('_id', '"o0042"')`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(plan, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "Index Scan") {
		t.Errorf("a prepared find, run again once the table has grown (before its statistics show it), is planned as\n%s\nwant an index scan", strings.Join(lines, "\n"))
	}

	if _, err := pg.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}

	for _, f := range []bson.D{
		{{Key: "_id", Value: "o0042"}},
		{{Key: "userId", Value: "u7"}},
		{{Key: "status", Value: "created"}, {Key: "_id", Value: "o0007"}},
	} {
		plan := explain(t, db, "orders", f)
		if !strings.Contains(plan, "Index Scan") || !strings.Contains(plan, "_gin") {
			t.Errorf("find %v is not answered from a GIN index: %s", f, plan)
		}
	}
	if n, err := coll.CountDocuments(ctx, bson.M{"userId": "u7"}); err != nil || n != 20 {
		t.Errorf("userId u7: %d documents, %v; want 20", n, err)
	}

	var pending int
	if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
		WHERE i.schemaname = 'app' AND i.indexdef LIKE '%USING gin%' AND NOT coalesce(c.reloptions @> '{fastupdate=off}', false)`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d GIN twins keep a pending list (fastupdate on)", pending)
	}

	var eager int
	if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'app' AND c.relname = $1
		AND c.reloptions @> '{autovacuum_vacuum_scale_factor=0,autovacuum_vacuum_threshold=200}'`, table).Scan(&eager); err != nil {
		t.Fatal(err)
	}
	if eager != 1 {
		t.Errorf("the orders collection's table is not vacuumed after a few hundred dead rows: %d of 1", eager)
	}

	var twins int
	if err := pg.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'old' AND indexdef LIKE '%USING gin%'`).Scan(&twins); err != nil {
		t.Fatal(err)
	}
	if twins != 1 {
		t.Errorf("the index that existed before the start has %d GIN twins, want 1", twins)
	}
}

func TestWithoutPoolParams(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h/db?pool_max_conns=7&sslmode=disable": "postgres://u@h/db?sslmode=disable",
		"postgres://u@h/db": "postgres://u@h/db",
	} {
		if got := WithoutPoolParams(in); got != want {
			t.Errorf("WithoutPoolParams(%q) = %q, want %q", in, got, want)
		}
	}
}
