package line_test

import (
	"errors"
	"testing"
	"time"

	"ticketing/services/queue/internal/line"
)

func TestPlaceOf(t *testing.T) {
	open := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	s := line.Sale{EventID: "e", OnSaleAt: open, AdmitPerMinute: 60, TicketCount: 10}
	before := open.Add(-90 * time.Second)
	after := open.Add(time.Minute)

	p, err := s.PlaceOf(line.Entry{Rank: 5}, 10, before)
	if err != nil || p.Status != line.Waiting || p.Position != nil || p.Ahead != nil || p.Wait != 90*time.Second {
		t.Errorf("before the sale: %+v %v", p, err)
	}
	p, err = s.PlaceOf(line.Entry{Rank: 5}, 10, after)
	if err != nil || p.Status != line.Waiting || *p.Position != 6 || *p.Ahead != 5 || p.Wait != 6*time.Second {
		t.Errorf("waiting: %+v %v", p, err)
	}
	p, _ = s.PlaceOf(line.Entry{Rank: 0}, 0, after)
	if p.Status != line.Closed || *p.Position != 1 {
		t.Errorf("sold out: %+v", p)
	}
	exp := after.Add(10 * time.Minute)
	p, _ = s.PlaceOf(line.Entry{Rank: -1, PassExpires: exp}, 0, after)
	if p.Status != line.Admitted || !p.PassExpires.Equal(exp) || p.Position != nil {
		t.Errorf("admitted: %+v", p)
	}
	if _, err := s.PlaceOf(line.Entry{Rank: -1, PassExpires: after.Add(-time.Second)}, 10, after); !errors.Is(err, line.ErrNotJoined) {
		t.Errorf("lapsed pass, not in line: %v", err)
	}
	if _, err := s.PlaceOf(line.Entry{Rank: -1}, 10, after); !errors.Is(err, line.ErrNotJoined) {
		t.Errorf("not joined: %v", err)
	}
	if w := (line.Sale{AdmitPerMinute: 600}).Wait(99); w != 10*time.Second {
		t.Errorf("100th at 600/min: %v", w)
	}
	if b := (line.Sale{AdmitPerMinute: 600}).Burst(250 * time.Millisecond); b != 5 {
		t.Errorf("burst %v", b)
	}
	if b := (line.Sale{AdmitPerMinute: 6}).Burst(250 * time.Millisecond); b != 2 {
		t.Errorf("burst %v", b)
	}
	if !(line.EarlyScore(0.999) < line.LateScore(0)) || !(line.LateScore(1) < line.LateScore(2)) {
		t.Error("early joiners go first, late ones in order")
	}
}
