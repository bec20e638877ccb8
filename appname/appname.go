// Package appname names algoreg-etl's PostgreSQL sessions after the work
// they do, in their application_name (pg_stat_activity, the server's log
// with %a, the holder of a lock): "algoreg-etl/customers/42" for run 42 of
// the job customers, "algoreg-etl/serve/host-a" for the scheduler of the
// instance host-a.
//
// The name travels in the context of each query: [With] sets it, and a
// connection of a pool opened with [Open] takes the name of the context of
// each query it runs, at connection start or with a SET when it changes.
package appname

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Program is the name of every session, and the start of the others.
const Program = "algoreg-etl"

type key struct{}

// With returns ctx naming the sessions of its queries name, such as
// Of("customers", 42).
func With(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, key{}, name)
}

// Of joins Program and the parts of a name: Of("customers", 42) is
// "algoreg-etl/customers/42".
func Of(parts ...any) string {
	s := Program
	for _, p := range parts {
		s += "/" + fmt.Sprint(p)
	}
	return s
}

// From returns the name ctx gives its sessions: Program if none.
func From(ctx context.Context) string {
	if name, ok := ctx.Value(key{}).(string); ok && name != "" {
		return name
	}
	return Program
}

// Open returns a pool of connections to the database of cfg whose
// sessions are named by the context of each query. cfg is used as given
// otherwise; its application_name is replaced.
func Open(cfg pq.Config) (*sqlx.DB, error) {
	// A fresh connector per name: the name goes in the startup packet.
	if _, err := pq.NewConnectorConfig(cfg); err != nil {
		return nil, err
	}
	return sqlx.NewDb(sql.OpenDB(&connector{cfg: cfg}), "postgres"), nil
}

// connector opens connections named after the context that needs them.
type connector struct {
	cfg pq.Config
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	name := From(ctx)
	cfg := c.cfg
	cfg.Runtime = make(map[string]string, len(c.cfg.Runtime)+1)
	for k, v := range c.cfg.Runtime {
		cfg.Runtime[k] = v
	}
	cfg.Runtime["application_name"] = name
	pc, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := pc.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc2, ok := dc.(pqConn)
	if !ok {
		return dc, nil // a lib/pq that changed: named at start only
	}
	return &conn{conn: pc2, name: name}, nil
}

func (c *connector) Driver() driver.Driver { return &pq.Driver{} }

// pqConn is what lib/pq's connections implement.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
}

// conn is a lib/pq connection that renames its session when a query's
// context names it otherwise. A SET in a transaction that is rolled back is
// undone by the server: the session keeps its earlier name until the next
// change of name.
type conn struct {
	conn pqConn
	name string // the session's application_name
}

// rename sets the session's name to the one ctx gives, if it differs.
func (c *conn) rename(ctx context.Context) error {
	name := From(ctx)
	if name == c.name {
		return nil
	}
	if _, err := c.conn.ExecContext(ctx, "SET application_name = "+pq.QuoteLiteral(name), nil); err != nil {
		return err
	}
	c.name = name
	return nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.conn.Prepare(query) }
func (c *conn) Close() error                              { return c.conn.Close() }
func (c *conn) Begin() (driver.Tx, error) {
	return c.conn.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if err := c.rename(ctx); err != nil {
		return nil, err
	}
	return c.conn.BeginTx(ctx, opts)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.rename(ctx); err != nil {
		return nil, err
	}
	return c.conn.PrepareContext(ctx, query)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.rename(ctx); err != nil {
		return nil, err
	}
	return c.conn.ExecContext(ctx, query, args)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.rename(ctx); err != nil {
		return nil, err
	}
	return c.conn.QueryContext(ctx, query, args)
}

func (c *conn) Ping(ctx context.Context) error              { return c.conn.Ping(ctx) }
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error { return c.conn.CheckNamedValue(nv) }
func (c *conn) ResetSession(ctx context.Context) error      { return c.conn.ResetSession(ctx) }
func (c *conn) IsValid() bool                               { return c.conn.IsValid() }
