// Package line holds the rules of an event's waiting room: where a buyer stands, what they are
// told (status, position, people ahead, an estimated wait derived from the admission rate),
// and the order of the line: everyone who joins before the sale opens is put in a random
// order, those who join later go to the back in order of joining. It knows no Redis, bus or
// HTTP; its errors are plain sentinels.
package line

import (
	"errors"
	"math"
	"time"
)

// Status is where a buyer stands.
type Status string

// The statuses of a place.
const (
	Waiting  Status = "waiting"  // in the line
	Admitted Status = "admitted" // holds a pass
	Closed   Status = "closed"   // in the line, but no ticket is free (it reopens if holds lapse)
)

// Errors of the rules.
var (
	ErrUnknownEvent = errors.New("no such event in the waiting room")
	ErrNotJoined    = errors.New("not in the line")
)

// Sale is what the waiting room knows of an event (event.created).
type Sale struct {
	EventID        string
	OnSaleAt       time.Time
	AdmitPerMinute int
	TicketCount    int
}

// Open says whether the sale has opened at now.
func (s Sale) Open(now time.Time) bool { return !now.Before(s.OnSaleAt) }

// Scores order the line (lowest first). A buyer who joins before the sale opens draws a
// uniform random score in [0, 1): drawn independently for each buyer, the scores put the early
// joiners in a uniformly random order, which is fixed the moment the sale opens, and nobody
// gains by joining first or refreshing. Later joiners score 1 + the count of later joins so
// far, behind every early joiner and in order of joining.

// EarlyScore is the score of a buyer who joined before the sale, from r uniform in [0, 1).
func EarlyScore(r float64) float64 { return r }

// LateScore is the score of the n-th buyer (from 1) to join after the sale opened.
func LateScore(n int64) float64 { return 1 + float64(n) }

// Burst is how many admissions may be saved up: two ticks' worth at the admission rate (at
// least two). While nobody waits that keeps admissions spread evenly over the minute; while
// buyers wait, a round that runs late (a tick the ticker dropped, a slow round) or the
// fraction of an admission left over from the round before is not lost, as it was with a
// cap of one tick's worth: rounds a few milliseconds apart from their tick then admitted
// about 80% of the rate.
func (s Sale) Burst(tick time.Duration) float64 {
	return math.Max(2, 2*float64(s.AdmitPerMinute)*tick.Seconds()/60)
}

// Wait is the estimated wait of a buyer with ahead people ahead, at the admission rate.
func (s Sale) Wait(ahead int64) time.Duration {
	if s.AdmitPerMinute <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(ahead+1)*60/float64(s.AdmitPerMinute))) * time.Second
}

// Entry is what the store holds of one buyer: their rank in the line (0 for the first; -1
// when not in it) or the end of their pass (zero when not admitted, or lapsed).
type Entry struct {
	Rank        int64
	PassExpires time.Time
}

// Place is what a buyer is told. Position (from 1) and Ahead are nil while they are not
// known: before the sale opens (the line is not drawn yet) and once admitted.
type Place struct {
	EventID     string
	Status      Status
	Position    *int64
	Ahead       *int64
	Wait        time.Duration
	PassExpires time.Time
}

// PlaceOf is the place of the buyer e at now, when available tickets are free. Errors:
// ErrNotJoined.
func (s Sale) PlaceOf(e Entry, available int, now time.Time) (Place, error) {
	p := Place{EventID: s.EventID}
	switch {
	case !e.PassExpires.IsZero() && now.Before(e.PassExpires):
		p.Status, p.PassExpires = Admitted, e.PassExpires
		return p, nil
	case e.Rank < 0:
		return Place{}, ErrNotJoined
	case !s.Open(now):
		// Not drawn yet: the wait is at least until the sale opens.
		p.Status, p.Wait = Waiting, s.OnSaleAt.Sub(now).Round(time.Second)
		return p, nil
	}
	ahead, position := e.Rank, e.Rank+1
	p.Position, p.Ahead, p.Wait = &position, &ahead, s.Wait(ahead)
	p.Status = Waiting
	if available <= 0 {
		p.Status = Closed
	}
	return p, nil
}
