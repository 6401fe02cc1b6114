package standin

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// access is what one command touches, as far as the gate's locks go.
type access struct {
	write bool
	ns    string // "db.coll" written; "" when the gate cannot place the command (all of them)
	// docs, for a write whose every statement names its document by _id (or an insert,
	// docs empty and non-nil), keys the documents: the write needs them and a shared hold
	// on its collection. nil: the write needs the collection to itself.
	docs []string
}

var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true, "findandmodify": true,
	"create": true, "drop": true, "createindexes": true, "dropindexes": true, "collmod": true,
}

var readCommands = map[string]bool{
	"find": true, "getmore": true, "count": true, "aggregate": true, "distinct": true,
	"listindexes": true, "listcollections": true, "listdatabases": true, "hello": true, "ismaster": true,
	"ping": true, "buildinfo": true, "endsessions": true, "killcursors": true, "explain": true,
	"dbstats": true, "collstats": true, "serverstatus": true, "getparameter": true, "getlog": true,
}

// statements names, per write command, the array of its statements (in the body or as a
// document sequence) and, in each, the field holding its filter; "" for the document itself
// (insert).
var statements = map[string][2]string{
	"insert": {"documents", ""},
	"update": {"updates", "q"},
	"delete": {"deletes", "q"},
}

// classify says what an OP_MSG command touches. A message it cannot parse counts as a write
// of everything.
func classify(msg []byte) access {
	everything := access{write: true}
	if len(msg) < headerLen+5 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg {
		return everything
	}
	var body bson.Raw
	seqs := map[string][]bson.Raw{} // document sequences by identifier
	rest := msg[headerLen+4:]
	for len(rest) >= 5 {
		kind := rest[0]
		rest = rest[1:]
		size := int(int32(binary.LittleEndian.Uint32(rest[:4])))
		if size < 5 || size > len(rest) {
			return everything
		}
		section := rest[:size]
		rest = rest[size:]
		switch kind {
		case 0:
			body = bson.Raw(section)
		case 1:
			id, docs, ok := sequence(section[4:])
			if !ok {
				return everything
			}
			seqs[id] = docs
		default:
			return everything
		}
	}
	elems, err := body.Elements()
	if body == nil || err != nil || len(elems) == 0 {
		return everything
	}
	name := strings.ToLower(elems[0].Key())
	if readCommands[name] {
		return access{}
	}
	coll, ok := elems[0].Value().StringValueOK()
	db, ok2 := body.Lookup("$db").StringValueOK()
	if !writeCommands[name] || !ok || !ok2 {
		return everything
	}
	a := access{write: true, ns: db + "." + coll}

	if name == "findandmodify" {
		q, ok := body.Lookup("query").DocumentOK()
		if id, found := idOf(q); ok && found {
			a.docs = []string{id}
		}
		return a
	}
	st, ok := statements[name]
	if !ok {
		return a // create, drop, indexes: the whole collection
	}
	docs, inSeq := seqs[st[0]]
	if !inSeq {
		arr, ok := body.Lookup(st[0]).ArrayOK()
		if !ok {
			return a
		}
		vals, err := arr.Values()
		if err != nil {
			return a
		}
		for _, v := range vals {
			d, ok := v.DocumentOK()
			if !ok {
				return a
			}
			docs = append(docs, d)
		}
	}
	if st[1] == "" {
		a.docs = []string{} // inserts: new documents; unique indexes keep them apart
		return a
	}
	ids := make([]string, 0, len(docs))
	for _, d := range docs {
		q, ok := d.Lookup(st[1]).DocumentOK()
		id, found := idOf(q)
		if !ok || !found {
			return a
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	a.docs = slices.Compact(ids)
	return a
}

// sequence parses an OP_MSG document sequence after its size: identifier, then documents.
func sequence(b []byte) (string, []bson.Raw, bool) {
	i := slices.Index(b, 0)
	if i < 0 {
		return "", nil, false
	}
	id, b := string(b[:i]), b[i+1:]
	var docs []bson.Raw
	for len(b) > 0 {
		if len(b) < 5 {
			return "", nil, false
		}
		n := int(int32(binary.LittleEndian.Uint32(b[:4])))
		if n < 5 || n > len(b) {
			return "", nil, false
		}
		docs = append(docs, bson.Raw(b[:n]))
		b = b[n:]
	}
	return id, docs, true
}

// idOf returns a key for the document a filter names by a top-level _id equal to a plain
// value ({_id: "x", ...}); found is false for any other filter, operators on _id included.
func idOf(filter bson.Raw) (key string, found bool) {
	if filter == nil {
		return "", false
	}
	v, err := filter.LookupErr("_id")
	if err != nil {
		return "", false
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument, bson.TypeArray, bson.TypeRegex, bson.TypeUndefined, bson.TypeMinKey, bson.TypeMaxKey:
		return "", false
	}
	// Numbers of different types can be equal (1 and 1.0): key numbers by their value.
	// (Large integers that share a float64 share a lock: that only serialises more.)
	if f, ok := v.AsFloat64OK(); ok {
		return "n" + strconv.FormatFloat(f, 'g', -1, 64), true
	}
	return string(rune(v.Type)) + string(v.Value), true
}

// locks holds the gate's write locks: a readers-writer lock per namespace (shared by writes
// to named documents, exclusive for the others) and a mutex per named document.
type locks struct {
	mu   sync.Mutex
	ns   map[string]*sync.RWMutex
	docs map[string]*docLock
}

type docLock struct {
	sync.Mutex
	refs int
}

func (l *locks) namespace(ns string) *sync.RWMutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ns == nil {
		l.ns = map[string]*sync.RWMutex{}
	}
	m := l.ns[ns]
	if m == nil {
		m = &sync.RWMutex{}
		l.ns[ns] = m
	}
	return m
}

// lockDocs locks keys, in order (callers sort them, so that two writes never wait for each
// other), and returns the function that unlocks them.
func (l *locks) lockDocs(ns string, keys []string) (unlock func()) {
	held := make([]*docLock, len(keys))
	for i, k := range keys {
		k = ns + "\x00" + k
		l.mu.Lock()
		if l.docs == nil {
			l.docs = map[string]*docLock{}
		}
		d := l.docs[k]
		if d == nil {
			d = &docLock{}
			l.docs[k] = d
		}
		d.refs++
		l.mu.Unlock()
		d.Lock()
		held[i] = d
	}
	return func() {
		for i, d := range held {
			d.Unlock()
			l.mu.Lock()
			if d.refs--; d.refs == 0 {
				delete(l.docs, ns+"\x00"+keys[i])
			}
			l.mu.Unlock()
		}
	}
}
