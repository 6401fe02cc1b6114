package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// postgresBinDir is the directory of PostgreSQL's server binaries (initdb, postgres and
// pg_isready side by side): that of the initdb in PATH (a symbolic link followed), else the
// newest of Debian's /usr/lib/postgresql/<version>/bin; "" when there are none.
func postgresBinDir() string {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, dir := range append(dirs, debian...) {
		if isFile(filepath.Join(dir, "initdb")) && isFile(filepath.Join(dir, "postgres")) && isFile(filepath.Join(dir, "pg_isready")) {
			return dir
		}
	}
	return ""
}

// versionOf is the major version in /usr/lib/postgresql/<version>/bin, 0 when not a number.
func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// pgCluster is a PostgreSQL cluster of the dev stack's own.
type pgCluster struct {
	url  string // trust auth, user postgres, database postgres
	dir  string
	stop func()
}

// startPostgres runs a private PostgreSQL cluster from binDir with its data in dir (created
// with initdb the first time), listening on 127.0.0.1 on a free port, with no Unix socket.
// PostgreSQL refuses to run as root: then the cluster runs as the user postgres (the owner
// of dir), which the Debian packages create.
func startPostgres(ctx context.Context, binDir, dir string) (*pgCluster, error) {
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	run := func(name string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, name), args...)
		cmd.SysProcAttr = childAttr(syscall.SIGINT) // SIGINT: PostgreSQL's fast shutdown
		cmd.SysProcAttr.Credential = cred
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		return cmd
	}
	data := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "postgres.log")
	if !isFile(filepath.Join(data, "PG_VERSION")) {
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		if err := chownTree(dir, cred); err != nil {
			return nil, err
		}
		out, err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("initdb: %w\n%s", err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// Not tied to ctx: the stack stops it after the services, through stop. Autovacuum looks
	// at each database every second, not every minute: the stand-in asks for its tables to be
	// vacuumed after a few hundred dead rows (see common/standin), and a reservation leaves one.
	cmd := exec.Command(filepath.Join(binDir, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "synchronous_commit=off", "-c", "max_connections=200", "-c", "autovacuum_naptime=1s")
	cmd.SysProcAttr = childAttr(syscall.SIGINT)
	cmd.SysProcAttr.Credential = cred
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, filepath.Join(binDir, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(port)).CombinedOutput()
		if err == nil {
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("postgres exited at start; see %s", logPath)
		default:
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("postgres did not accept connections at %s within 30s (%v: %s); see %s", addr, err, bytes.TrimSpace(out), logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &pgCluster{url: "postgres://postgres@" + addr + "/postgres", dir: dir, stop: stop}, nil
}

// postgresCredential is the user the cluster runs as: nil (this process's) unless this
// process is root, which PostgreSQL refuses; then the user postgres.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := osuser.Lookup("postgres")
	if err != nil {
		return nil, errors.New("PostgreSQL refuses to run as root and there is no user postgres to run it as: run the dev stack as another user, or pass -mongo-backend sqlite")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// chownTree gives dir and everything in it to cred's user (nothing to do without cred).
func chownTree(dir string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	})
}

// sqliteWarning is said at the start when the stand-in falls back to SQLite.
const sqliteWarning = `MongoDB stand-in on SQLITE: no PostgreSQL server binaries found (initdb and postgres, in PATH or /usr/lib/postgresql/<version>/bin).
    This backend SLOWS DOWN AS DATA GROWS: FerretDB's SQLite backend reads and decodes a whole collection for every query other
    than a lookup by _id, so orders and listings get slower with every ticket and order stored (see the README, "The dev stack").
    For the fast one, install PostgreSQL's server (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)
    and start again: the dev stack then runs a private PostgreSQL cluster of its own in its data directory.`
