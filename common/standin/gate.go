package standin

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MongoDB wire protocol constants; see
// https://www.mongodb.com/docs/manual/reference/mongodb-wire-protocol/.
const (
	headerLen      = 16       // messageLength, requestID, responseTo, opCode: int32 little-endian each
	opMsg          = 2013     // OP_MSG opCode
	flagMoreToCome = 1 << 1   // OP_MSG flagBits: the sender will not wait for (or will send) another message
	maxMessageLen  = 48 << 20 // MongoDB's maxMessageSizeBytes
)

// gate is a TCP proxy in front of FerretDB that lets one write command per
// document through at a time, across all client connections: a write whose
// statements all name their document by _id waits only for writes to those
// documents (and inserts for nothing but collection-wide writes); any other
// write has its collection to itself. Reads pass freely, up to a bound on the
// commands in flight.
//
// FerretDB executes a conditional update as a read followed by a write by _id,
// so two racing findOneAndUpdate({_id, version: v}) calls can both match and
// both "win". MongoDB guarantees single-document atomicity; serialising the
// writes of each document restores it. Each client connection gets its own
// upstream connection, so per-connection state (cursors) stays intact.
type gate struct {
	ln       net.Listener
	upstream string
	log      *slog.Logger

	// global is held exclusively by commands the gate cannot place in one collection, and
	// shared by the other writes, which also hold their locks (see access) from forwarding
	// the request until its reply has been read back. Reads take no lock.
	global sync.RWMutex
	locks  locks
	// perDatabase serialises writes per database rather than per document or collection:
	// SQLite keeps a database in one file, with one writer at a time.
	perDatabase bool
	// slots bounds the commands in flight to FerretDB. A write takes one only once it holds
	// its locks: a slot is never held by a command waiting for a lock, so writers queued on
	// one busy document cannot take every slot and starve the reads and other writes; and a
	// slot holder waits for nothing, so a lock holder waiting for a slot gets one soon.
	// Reads also take one of readSlots, a quarter fewer: however many reads are in flight,
	// a quarter of the slots stays for the lock holders, whose writes others queue behind.
	slots     chan struct{}
	readSlots chan struct{}

	connsMu sync.Mutex
	conns   map[net.Conn]struct{} // open client and upstream connections
	closed  bool

	wg sync.WaitGroup // accept loop and connection handlers
}

// newGate listens on 127.0.0.1 on a random port and proxies to upstream.
func newGate(upstream string, perDatabase bool, maxInFlight int, log *slog.Logger) (*gate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("standin: gate listen: %w", err)
	}
	g := &gate{
		ln:          ln,
		upstream:    upstream,
		perDatabase: perDatabase,
		slots:       make(chan struct{}, maxInFlight),
		readSlots:   make(chan struct{}, max(1, maxInFlight-maxInFlight/4)),
		log:         log,
		conns:       make(map[net.Conn]struct{}),
	}
	g.wg.Add(1)
	go g.accept()
	return g, nil
}

// addr returns the gate's listen address, host:port.
func (g *gate) addr() string { return g.ln.Addr().String() }

// close stops accepting, closes every connection and waits for the handlers.
func (g *gate) close() {
	g.connsMu.Lock()
	g.closed = true
	for c := range g.conns {
		_ = c.Close()
	}
	g.connsMu.Unlock()
	_ = g.ln.Close()
	g.wg.Wait()
}

func (g *gate) accept() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.log.Warn("standin gate: accept failed", "err", err)
			time.Sleep(50 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		g.wg.Add(1)
		go g.serve(c)
	}
}

// track registers conns for close; it reports false once the gate is closed.
func (g *gate) track(conns ...net.Conn) bool {
	g.connsMu.Lock()
	defer g.connsMu.Unlock()
	if g.closed {
		return false
	}
	for _, c := range conns {
		g.conns[c] = struct{}{}
	}
	return true
}

func (g *gate) untrack(conns ...net.Conn) {
	g.connsMu.Lock()
	defer g.connsMu.Unlock()
	for _, c := range conns {
		delete(g.conns, c)
		_ = c.Close()
	}
}

// serve relays one client connection over its own upstream connection.
func (g *gate) serve(client net.Conn) {
	defer g.wg.Done()
	upstream, err := net.Dial("tcp", g.upstream)
	if err != nil {
		g.log.Warn("standin gate: dial FerretDB failed", "err", err)
		_ = client.Close()
		return
	}
	if !g.track(client, upstream) {
		_ = client.Close()
		_ = upstream.Close()
		return
	}
	defer g.untrack(client, upstream)

	err = g.relay(client, upstream)
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		g.log.Debug("standin gate: connection ended", "err", err)
	}
}

// relay forwards requests from client one whole message at a time, and the
// replies back, until either side closes.
func (g *gate) relay(client, upstream net.Conn) error {
	cr := bufio.NewReader(client)
	ur := bufio.NewReader(upstream)
	for {
		req, err := readMessage(cr)
		if err != nil {
			return err
		}
		replies, err := g.roundTrip(upstream, ur, req)
		if err != nil {
			return err
		}
		// Written after the lock is released: a slow client holds up no one.
		for _, reply := range replies {
			if _, err := client.Write(reply); err != nil {
				return err
			}
		}
	}
}

// roundTrip sends req upstream and reads its replies back, holding the write
// locks req needs (see access; none for a read, every one for a command it
// cannot place) throughout. Replies flagged moreToCome (an exhaust stream) are followed by
// more replies, read under the same lock.
func (g *gate) roundTrip(w io.Writer, r io.Reader, req []byte) ([][]byte, error) {
	a := classify(req)
	if g.perDatabase {
		a.ns, _, _ = strings.Cut(a.ns, ".")
		a.docs = nil
	}
	switch {
	case !a.write:
	case a.ns == "":
		g.global.Lock()
		defer g.global.Unlock()
	default:
		g.global.RLock()
		defer g.global.RUnlock()
		ns := g.locks.namespace(a.ns)
		if a.docs == nil {
			ns.Lock()
			defer ns.Unlock()
		} else {
			ns.RLock()
			defer ns.RUnlock()
			defer g.locks.lockDocs(a.ns, a.docs)()
		}
	}
	if !a.write {
		g.readSlots <- struct{}{}
		defer func() { <-g.readSlots }()
	}
	g.slots <- struct{}{} // after the locks, and released before them
	defer func() { <-g.slots }()

	if _, err := w.Write(withoutMaxTimeMS(req)); err != nil {
		return nil, err
	}
	var replies [][]byte
	for {
		reply, err := readMessage(r)
		if err != nil {
			return nil, err
		}
		replies = append(replies, reply)
		if !moreToCome(reply) {
			break
		}
	}
	if moreToCome(req) {
		// MongoDB sends nothing back for a request flagged moreToCome (an
		// unacknowledged write), but FerretDB replies to every request. Drop
		// that reply so the client's next reply lines up with its request.
		return nil, nil
	}
	return replies, nil
}

// readMessage reads one whole wire message, header included.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(hdr[:4])))
	if n < headerLen || n > maxMessageLen {
		return nil, fmt.Errorf("standin gate: bad wire message length %d", n)
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// moreToCome reports whether msg is an OP_MSG with the moreToCome flag bit.
func moreToCome(msg []byte) bool {
	return len(msg) >= headerLen+4 &&
		binary.LittleEndian.Uint32(msg[12:16]) == opMsg &&
		binary.LittleEndian.Uint32(msg[16:20])&flagMoreToCome != 0
}

// withoutMaxTimeMS returns req, an OP_MSG command, without its maxTimeMS field, or req
// itself when it has none (or is not an OP_MSG the gate can rewrite).
//
// The driver sends maxTimeMS with every command whose context has a deadline, and FerretDB
// (1.24) turns it into a context that it cancels when it closes the command's cursor,
// before closing the PostgreSQL rows under it. pgx watches that context until the rows are
// closed: the cancellation sets a deadline on the pooled connection for a moment, and when
// pgx's background reader (started by a write that took over 15ms, as on a loaded machine)
// is blocked on that connection meanwhile, it keeps the "i/o timeout" it read. The
// connection goes back to the pool with that error, and the next command on it fails with
// "timeout: read tcp ...: i/o timeout" in microseconds, its own context untouched. Without
// maxTimeMS FerretDB cancels nothing; the driver still ends the command at its deadline.
func withoutMaxTimeMS(req []byte) []byte {
	const flagChecksumPresent = 1 << 0
	if len(req) < headerLen+5 || binary.LittleEndian.Uint32(req[12:16]) != opMsg ||
		binary.LittleEndian.Uint32(req[16:20])&flagChecksumPresent != 0 {
		return req
	}
	rest := req[headerLen+4:]
	for off := headerLen + 4; len(rest) >= 5; {
		kind := rest[0]
		size := int(int32(binary.LittleEndian.Uint32(rest[1:5])))
		if size < 5 || size > len(rest)-1 {
			return req
		}
		if kind == 0 {
			body := bson.Raw(rest[1 : 1+size])
			if _, err := body.LookupErr("maxTimeMS"); err != nil {
				return req
			}
			elems, err := body.Elements()
			if err != nil {
				return req
			}
			doc := make([]byte, 4, size) // length, elements, 0
			for _, e := range elems {
				if e.Key() != "maxTimeMS" {
					doc = append(doc, e...)
				}
			}
			doc = append(doc, 0)
			binary.LittleEndian.PutUint32(doc[:4], uint32(len(doc)))
			out := slices.Concat(req[:off+1], doc, req[off+1+size:])
			binary.LittleEndian.PutUint32(out[:4], uint32(len(out)))
			return out
		}
		off += 1 + size
		rest = rest[1+size:]
	}
	return req
}
