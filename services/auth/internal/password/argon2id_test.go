package password

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"ticketing/common/testkit"
)

// fast keeps the tests quick, above all under the race detector.
var fast = Params{Time: 1, MemoryKiB: 64, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t *testing.T, p Params, n int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashIsPHCAndVerifies(t *testing.T) {
	ctx := t.Context()
	h := newHasher(t, fast, 1)
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(enc) {
		t.Fatalf("hash %q is not a PHC argon2id string with the hasher's parameters", enc)
	}
	if again, _ := h.Hash(ctx, "correct horse"); again == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false, "correct horse ": false} {
		ok, rehash, err := h.Verify(ctx, pw, enc)
		if err != nil || ok != want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", pw, ok, rehash, err, want)
		}
	}
}

// Hashes made by the reference implementation (the argon2 command of Debian's argon2
// package, e.g. `echo -n password | argon2 somesaltsomesalt -id -t 2 -m 10 -p 2 -l 32 -e`)
// verify, so stored hashes are portable in both directions.
func TestVerifiesReferenceHashes(t *testing.T) {
	for _, tc := range []struct{ password, encoded string }{
		{"password", "$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$E2UjtrDTCgIx4mfpqQ9GwLzvabuQuVCcwisqBRbSI+4"},
		{"correct horse battery staple", "$argon2id$v=19$m=4096,t=1,p=1$TmFDbC1zYWx0LTE2Ynl0ZQ$DlC3Qj5zdUf5BaV5H3zB5+SJNc82vw0jYIt77KM3g+k"},
		{"pässwörd ✓", "$argon2id$v=19$m=2048,t=3,p=4$MDEyMzQ1Njc4OWFiY2RlZg$NPECYmBZAysyEO4C55c3RA"},
	} {
		h := newHasher(t, fast, 1)
		ok, rehash, err := h.Verify(t.Context(), tc.password, tc.encoded)
		if err != nil || !ok || !rehash {
			t.Errorf("Verify(%q, %s) = %v, %v, %v; want true, true (other params), nil", tc.password, tc.encoded, ok, rehash, err)
		}
		if ok, _, _ := h.Verify(t.Context(), tc.password+"x", tc.encoded); ok {
			t.Errorf("a wrong password matched %s", tc.encoded)
		}
		// Encode(Decode(x)) == x.
		p, salt, key, err := Decode(tc.encoded)
		if err != nil || Encode(p, salt, key) != tc.encoded {
			t.Errorf("Decode/Encode of %s = %v; %s", tc.encoded, err, Encode(p, salt, key))
		}
	}
}

// The same password typed with a composed or a decomposed "é" is one password.
func TestPasswordIsNormalisedNFKC(t *testing.T) {
	h := newHasher(t, fast, 1)
	enc, err := h.Hash(t.Context(), "caf\u00e9 au lait")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(t.Context(), "cafe\u0301 au lait", enc); !ok || err != nil {
		t.Errorf("decomposed form did not verify: %v, %v", ok, err)
	}
}

// A hash made with older parameters still verifies and asks to be rehashed.
func TestParameterChangeAsksForRehash(t *testing.T) {
	old := newHasher(t, fast, 1)
	enc, _ := old.Hash(t.Context(), "long enough")
	stronger := fast
	stronger.Time = 2
	h := newHasher(t, stronger, 1)
	ok, rehash, err := h.Verify(t.Context(), "long enough", enc)
	if !ok || !rehash || err != nil {
		t.Errorf("Verify with new params = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	enc2, _ := h.Hash(t.Context(), "long enough")
	if !strings.Contains(enc2, "$m=64,t=2,p=1$") {
		t.Errorf("new hash %s does not carry the new parameters", enc2)
	}
	if ok, rehash, _ := h.Verify(t.Context(), "long enough", enc2); !ok || rehash {
		t.Errorf("fresh hash: ok=%v rehash=%v; want true, false", ok, rehash)
	}
}

func TestDecodeRefusesMalformedHashes(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "E2UjtrDTCgIx4mfpqQ9GwLzvabuQuVCcwisqBRbSI+4"
	for _, enc := range []string{
		"",
		"plain text",
		"$argon2i$v=19$m=1024,t=2,p=2$" + salt + "$" + key,
		"$argon2d$v=19$m=1024,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=16$m=1024,t=2,p=2$" + salt + "$" + key,
		"$argon2id$m=1024,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=2$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=2,p=2,x=1$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,m=1024,t=2$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=0,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=2,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999999,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=4294967295,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=1000,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=-1,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=01024,t=2,p=2$" + salt + "$" + key,
		"$argon2id$v=19$m=1024,t=2,p=2$" + salt + "==$" + key,
		"$argon2id$v=19$m=1024,t=2,p=2$c2FsdA$" + key, // 4-byte salt
		"$argon2id$v=19$m=1024,t=2,p=2$" + salt + "$AAAA",
		"$argon2id$v=19$m=1024,t=2,p=2$" + salt + "$" + key + "$",
		"x$argon2id$v=19$m=1024,t=2,p=2$" + salt + "$" + key,
	} {
		if _, _, _, err := Decode(enc); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, want ErrMalformed", enc, err)
		}
		h := newHasher(t, fast, 1)
		if ok, _, err := h.Verify(t.Context(), "password", enc); ok || err == nil {
			t.Errorf("Verify against %q = %v, %v; want false and an error", enc, ok, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=1024,t=2,p=2$c29tZXNhbHRzb21lc2FsdA$E2UjtrDTCgIx4mfpqQ9GwLzvabuQuVCcwisqBRbSI+4")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, enc string) {
		p, salt, key, err := Decode(enc)
		if err != nil {
			return
		}
		if p.Validate() != nil {
			t.Fatalf("Decode accepted invalid params %+v", p)
		}
		if p.MemoryKiB <= 4096 && p.Time <= 4 { // cheap enough to run
			h, _ := NewHasher(fast, 1)
			_, _, _ = h.Verify(context.Background(), "x", enc)
		}
		_ = Encode(p, salt, key)
	})
}

func TestBelowOWASP(t *testing.T) {
	for _, tc := range []struct {
		p    Params
		want bool
	}{
		{Default, false},
		{Params{Time: 1, MemoryKiB: 47104, Threads: 1}, false},
		{Params{Time: 1, MemoryKiB: 47103, Threads: 1}, true},
		{Params{Time: 2, MemoryKiB: 19456, Threads: 1}, false},
		{Params{Time: 2, MemoryKiB: 19000, Threads: 1}, true},
		{Params{Time: 3, MemoryKiB: 12288, Threads: 1}, false},
		{Params{Time: 5, MemoryKiB: 7168, Threads: 1}, false},
		{Params{Time: 9, MemoryKiB: 4096, Threads: 1}, true},
	} {
		if got := tc.p.BelowOWASP(); got != tc.want {
			t.Errorf("%v.BelowOWASP() = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Default.Validate() != nil {
		t.Errorf("Default is invalid: %v", Default.Validate())
	}
}

// Hashes beyond the concurrency limit wait for a slot, give up with the request's context,
// and are refused as busy (503 with Retry-After) past MaxWait.
func TestConcurrencyLimit(t *testing.T) {
	h := newHasher(t, fast, 1)
	h.maxWait = 50 * time.Millisecond
	enc, _ := h.Hash(t.Context(), "password")

	h.slots <- struct{}{} // every slot taken
	if _, err := h.Hash(t.Context(), "password"); err != ErrBusy {
		t.Errorf("Hash with no free slot = %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h.maxWait = time.Hour
	if _, _, err := h.Verify(ctx, "password", enc); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context = %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() { _, err := h.Hash(t.Context(), "password"); done <- err }()
	<-h.slots // a slot frees up: the waiting hash proceeds
	if err := <-done; err != nil {
		t.Errorf("waiting Hash = %v, want nil", err)
	}
}

// BenchmarkArgon2id is the cost of one hash for the defaults and for OWASP's minimum
// configurations, to choose the defaults on the target machine:
//
//	go test -run '^$' -bench Argon2id -benchtime 20x ./internal/password
func BenchmarkArgon2id(b *testing.B) {
	for _, p := range []Params{
		Default,
		{Time: 1, MemoryKiB: 64 * 1024, Threads: 2, SaltLen: 16, KeyLen: 32},
		{Time: 1, MemoryKiB: 47104, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Time: 2, MemoryKiB: 19456, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Time: 3, MemoryKiB: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}, // RFC 9106's second choice
	} {
		h, err := NewHasher(p, 64)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(p.String(), func(b *testing.B) {
			cpu0 := testkit.CPUTime(b)
			for b.Loop() {
				if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
					b.Fatal(err)
				}
			}
			// CPU per hash barely depends on other load; wall time (ns/op) does.
			b.ReportMetric(float64((testkit.CPUTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
