// Package password hashes and verifies passwords with argon2id, stored as PHC strings
// ($argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>) so that the parameters of each hash travel
// with it and can be raised later without invalidating older hashes.
package password

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are the argon2id cost parameters of a hash.
type Params struct {
	Time      uint32 // passes over memory (t)
	MemoryKiB uint32 // memory in KiB (m)
	Threads   uint8  // lanes (p)
	SaltLen   uint32 // bytes of random salt
	KeyLen    uint32 // bytes of derived key
}

// Default is what the service uses unless configured otherwise: 64 MiB, one pass, one lane.
// It is above OWASP's first argon2id configuration (m=46 MiB, t=1, p=1) and costs about
// 50 ms of one core per hash on the project's machines (BenchmarkArgon2id), so a sign-in
// takes tens of milliseconds and two cores serve about 35-40 sign-ins per second. One lane:
// the Hasher already runs one hash per core, so more lanes add no throughput, only
// scheduling; see the service's README.
var Default = Params{Time: 1, MemoryKiB: 64 * 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds of what Decode accepts and the configuration allows: a stored hash must not make a
// verification allocate without limit or panic inside argon2.
const (
	MaxTime      = 64
	MaxMemoryKiB = 1 << 20 // 1 GiB
	minSaltLen   = 8
	minKeyLen    = 16
	maxLen       = 1024
)

// Validate reports what is wrong with p, or nil.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("time %d is not in 1..%d", p.Time, MaxTime)
	case p.Threads < 1:
		return errors.New("threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB:
		return fmt.Errorf("memory %d KiB is not in %d..%d (8 KiB per thread at least)", p.MemoryKiB, 8*uint32(p.Threads), MaxMemoryKiB)
	case p.SaltLen < minSaltLen || p.SaltLen > maxLen:
		return fmt.Errorf("salt length %d is not in %d..%d", p.SaltLen, minSaltLen, maxLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxLen:
		return fmt.Errorf("key length %d is not in %d..%d", p.KeyLen, minKeyLen, maxLen)
	}
	return nil
}

// BelowOWASP reports whether p is weaker than every argon2id configuration of the OWASP
// Password Storage Cheat Sheet (m=47104 t=1, m=19456 t=2, m=12288 t=3, m=9216 t=4,
// m=7168 t=5, all with p=1).
func (p Params) BelowOWASP() bool {
	minimum := map[uint32]uint32{1: 47104, 2: 19456, 3: 12288, 4: 9216}
	need, ok := minimum[p.Time]
	if !ok { // t >= 5
		need = 7168
	}
	return p.MemoryKiB < need
}

// String is the PHC parameter segment, "m=65536,t=1,p=2".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads)
}

// Hasher hashes with its Params and verifies hashes of any Params. At most a fixed number of
// hashes run at once (its slots), which bounds the memory they take (MemoryKiB each) and
// keeps each hash on a core of its own: a burst of requests waits its turn, up to MaxWait,
// rather than exhausting the machine.
//
// A Share of a hasher (sign-ups) hashes in the same slots but holds at most its own number
// of them at once, and waits in a queue of its own: the other requests (sign-ins) always have
// the rest of the slots, and, with hashes never outnumbering the slots, a sign-in runs at full
// speed however many sign-ups arrive.
type Hasher struct {
	params  Params
	slots   chan struct{}
	gate    chan struct{} // a Share's own bound; nil for the hasher itself
	waiters chan struct{} // nil: any number may wait
	maxWait time.Duration
}

// DefaultMaxWait is how long a hash waits for a free slot before the request is refused as
// busy.
const DefaultMaxWait = 5 * time.Second

// Limits bound a share of a hasher: Concurrency of its slots at once; at most Queue more
// requests waiting (0: no bound), each for at most MaxWait (DefaultMaxWait when 0). A request
// past the queue is refused as busy at once.
type Limits struct {
	Concurrency int
	Queue       int
	MaxWait     time.Duration
}

// NewHasher makes a hasher for p running at most concurrency hashes at once, its requests
// waiting up to DefaultMaxWait for a slot.
func NewHasher(p Params, concurrency int) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("argon2id parameters: %w", err)
	}
	if concurrency < 1 {
		return nil, fmt.Errorf("argon2id concurrency %d must be at least 1", concurrency)
	}
	return &Hasher{params: p, slots: make(chan struct{}, concurrency), maxWait: DefaultMaxWait}, nil
}

// Share is a hasher over h's slots that takes at most l.Concurrency of them at once, fewer
// than h has (so that h's own requests always keep one), and queues within l.
func (h *Hasher) Share(l Limits) (*Hasher, error) {
	if l.Concurrency < 1 || (l.Concurrency >= cap(h.slots) && cap(h.slots) > 1) {
		return nil, fmt.Errorf("argon2id share %d must be at least 1 and below the concurrency %d", l.Concurrency, cap(h.slots))
	}
	s := &Hasher{params: h.params, slots: h.slots, gate: make(chan struct{}, l.Concurrency), maxWait: cmp.Or(l.MaxWait, DefaultMaxWait)}
	if l.Queue > 0 {
		s.waiters = make(chan struct{}, l.Queue)
	}
	return s, nil
}

// Params are the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// ErrBusy is returned when no hashing slot frees up within the wait, or the queue of
// requests waiting for one is full.
var ErrBusy = errors.New("password: no hashing slot freed up in time")

// acquire takes a place in the gate (for a share), then a slot.
func (h *Hasher) acquire(ctx context.Context) error {
	sems := []chan struct{}{h.slots}
	if h.gate != nil {
		sems = []chan struct{}{h.gate, h.slots}
	}
	held := 0
	undo := func() {
		for _, c := range sems[:held] {
			<-c
		}
	}
	for _, c := range sems {
		select {
		case c <- struct{}{}:
			held++
			continue
		default:
		}
		break
	}
	if held == len(sems) {
		return nil
	}
	if h.waiters != nil {
		select {
		case h.waiters <- struct{}{}:
			defer func() { <-h.waiters }()
		default:
			undo()
			return ErrBusy
		}
	}
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	for _, c := range sems[held:] {
		select {
		case c <- struct{}{}:
			held++
		case <-ctx.Done():
			undo()
			return ctx.Err()
		case <-t.C:
			undo()
			return ErrBusy
		}
	}
	return nil
}

func (h *Hasher) release() {
	<-h.slots
	if h.gate != nil {
		<-h.gate
	}
}

// Hash returns the PHC string of password under a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return Encode(h.params, salt, derive(password, salt, h.params)), nil
}

// Verify reports whether password matches encoded, comparing in constant time, and whether
// encoded was made with other parameters than the hasher's (so it should be rehashed). An
// encoded value that is not a valid argon2id PHC string is an error.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, key, err := Decode(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := derive(password, salt, p)
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, p != h.params, nil
}

// derive is argon2id of password in Unicode NFKC form (NIST SP 800-63B 5.1.1.2), so that a
// password typed with composed or decomposed characters is the same password.
func derive(password string, salt []byte, p Params) []byte {
	return argon2.IDKey([]byte(norm.NFKC.String(password)), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

var b64 = base64.RawStdEncoding

// Encode formats a hash as a PHC string.
func Encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// ErrMalformed is every way a stored hash can fail to parse.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// Decode parses a PHC string made by Encode (or by the reference argon2 implementation) into
// its parameters, salt and key.
func Decode(encoded string) (Params, []byte, []byte, error) {
	fail := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("not $argon2id$v=..$params$salt$hash")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("version is not 19")
	}
	var p Params
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return fail("bad parameter list")
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || (len(v) > 1 && v[0] == '0') {
			return fail("bad parameter value")
		}
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return fail("bad parallelism")
			}
			p.Threads = uint8(n)
		default:
			return fail("unknown parameter")
		}
	}
	if len(seen) != 3 {
		return fail("parameters m, t and p are required")
	}
	salt, err := b64.Strict().DecodeString(parts[4])
	if err != nil {
		return fail("salt is not base64")
	}
	key, err := b64.Strict().DecodeString(parts[5])
	if err != nil {
		return fail("hash is not base64")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.Validate(); err != nil {
		return fail(err.Error())
	}
	return p, salt, key, nil
}
