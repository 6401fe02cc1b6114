package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"ticketing/common/apiclient"
	"ticketing/common/authn"
)

// onsale: an event's sale through its waiting room. An event of T tickets opens at onSaleAt;
// most of B buyers join its waiting room before that, the rest (-onsale-late) after it opened,
// spread over -onsale-late-spread. Every buyer polls its place, waiting what the room
// estimates (between -onsale-poll-min and -onsale-poll-max); once admitted it orders one free
// ticket of the event with its pass (another on "reserved") and stops. The room admits
// -onsale-admit buyers a minute, and only while free tickets outnumber the admitted buyers who
// have not ordered, so about T buyers get in; the run ends when every ticket is held, or at
// -onsale-deadline after the opening.
//
// Measured: orders/s, POST /api/orders latency of the admitted buyers, the time from the
// opening to the last ticket held, queue look-ups/s, 5xx answers (must be 0), double holds
// (must be 0, checked as in the rush), and the order of admission against the order of
// joining (Spearman's rank correlation): near 0 for the early joiners (the room draws them in
// a random order), near 1 for the late ones (first come, first served). The order of
// admission is the admitted buyers by the start of their pass, then those still waiting by
// their place in the line once the sale is over (the order in which the room would admit
// them: the late joiners are never admitted when the early ones outnumber the tickets).
func (b *Bench) onsale(ctx context.Context, res *Result) error {
	cfg := b.cfg
	nb, nt := cfg.OnsaleBuyers, cfg.OnsaleTickets
	nLate := int(math.Round(float64(nb) * cfg.OnsaleLate))
	nEarly := nb - nLate
	res.Params["buyers"] = nb
	res.Params["buyers joining late"] = nLate
	res.Params["tickets"] = nt
	res.Params["admitPerMinute"] = cfg.OnsaleAdmit
	res.Params["poll"] = fmt.Sprintf("%s..%s", cfg.OnsalePollMin, cfg.OnsalePollMax)
	res.Params["deadline"] = cfg.OnsaleDeadline.String()

	seller, err := b.client.Signup(ctx, b.runID+"-onsale-seller@bench.example.com")
	if err != nil {
		return err
	}
	buyers, err := b.onsaleBuyers(ctx, res, nb)
	if err != nil {
		return err
	}
	open := time.Now().Add(cfg.OnsaleLead).UTC().Truncate(time.Millisecond)
	ev, r, err := b.client.CreateEvent(ctx, apiclient.Bearer(seller.Token), apiclient.NewEvent{
		Title: "Onsale " + b.runID, OnSaleAt: open, Tickets: apiclient.NewEventBatch{Count: nt, Price: 10},
		MaxPerUser: 1, AdmitPerMinute: cfg.OnsaleAdmit,
	})
	if err != nil {
		return fmt.Errorf("create the event: %s", r)
	}
	b.ticketsCreated += nt
	tickets, err := b.eventTickets(ctx, ev.ID, nt)
	if err != nil {
		return err
	}
	if _, err := b.waitReplicated(ctx, seller, buyers[0]); err != nil {
		return err
	}

	s := &sale{b: b, event: ev.ID, open: open, nTickets: nt, done: make(chan struct{}),
		queueSem: make(chan struct{}, cfg.OnsaleConns), wins: map[string][]string{}, tried: map[int]bool{},
		joins: NewRecorder(), lookups: NewRecorder(), listings: NewRecorder(), orders: NewRecorder(), accepted: NewRecorder(),
		entries: make([]lineEntry, nb)}
	server := b.watchOrdersRoute(ctx)
	cpu := b.sampler.Start()
	p := StartProgress("onsale", s.progress)
	var wg sync.WaitGroup
	var joinErr atomic.Value
	for i := range nb {
		late := i >= nEarly
		s.entries[i].Late = late
		wg.Go(func() {
			if late {
				at := open.Add(time.Duration(float64(cfg.OnsaleLateSpread) * float64(i-nEarly) / float64(max(nLate, 1))))
				if !s.sleepUntil(ctx, at) {
					return
				}
			}
			if err := s.buyer(ctx, i, buyers[i]); err != nil {
				joinErr.CompareAndSwap(nil, err)
				s.stop()
			}
		})
	}
	deadline := time.AfterFunc(time.Until(open.Add(cfg.OnsaleDeadline)), s.stop)
	wg.Wait()
	deadline.Stop()
	s.stop()
	p.Stop()
	res.CPU = cpu.Stop()
	if sl, ok := server.stop(ctx); ok {
		res.Server = append(res.Server, sl)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err, _ := joinErr.Load().(error); err != nil {
		return err
	}
	if s.lastEarlyJoin.After(open) {
		return fmt.Errorf("the early joiners were still joining when the sale opened (the last %s after creating the event): raise -onsale-lead",
			s.lastEarlyJoin.Sub(open.Add(-cfg.OnsaleLead)).Round(time.Millisecond))
	}
	res.metric("early joiners joined within", round2(s.lastEarlyJoin.Sub(open.Add(-cfg.OnsaleLead)).Seconds()), "s of creating the event")

	snapshot := NewRecorder()
	notClosed, err := s.snapshotLine(ctx, buyers, snapshot)
	if err != nil {
		return err
	}
	var orderers []User // every buyer who could hold an order of the event: the admitted ones
	for i, e := range s.entries {
		if !e.Admitted.IsZero() || s.tried[i] {
			orderers = append(orderers, buyers[i])
		}
	}
	v, err := b.verifyHolds(ctx, "onsale check", orderers, tickets, s.wins)
	if err != nil {
		return err
	}

	out := onsaleOutcome{
		Tickets: nt, AdmitPerMin: cfg.OnsaleAdmit, Open: open, Stopped: s.stoppedAt, Entries: s.entries, LastWin: s.lastWin,
		Joins: s.joins, Lookups: s.lookups, Listings: s.listings, Orders: s.orders, Accepted: s.accepted, Snapshot: snapshot,
		DoubleResponses: doubleWins(s.wins), Holds: v, NotClosed: notClosed,
		PassRefused: int(s.passRefused.Load()), NotReplicated: int(s.notReplicated.Load()), GaveUp: int(s.gaveUp.Load()),
	}
	out.report(res)
	return nil
}

// onsaleBuyers are the scenario's buyers. On a stack of our own their session tokens are
// signed with the stack's key (the auth service's own signer, as sign-in would issue them:
// every service verifies them with the public key alone), since signing up 10,000 accounts
// would spend minutes hashing passwords; with -url they sign up.
func (b *Bench) onsaleBuyers(ctx context.Context, res *Result, n int) ([]User, error) {
	if b.stack == nil {
		res.note("buyers signed up (-url: no signing key)")
		return b.signupMany(ctx, "onsale-buyer", n)
	}
	key, err := b.stack.SigningKey()
	if err != nil {
		return nil, err
	}
	res.note("buyers' session tokens signed with the stack's JWT key (no sign-up: argon2 would take minutes)")
	return mintUsers(authn.NewSigner(key, 2*time.Hour), b.runID+"-onsale-buyer", n)
}

// mintUsers signs a session token for n users with fresh ids.
func mintUsers(signer *authn.Signer, role string, n int) ([]User, error) {
	users := make([]User, n)
	for i := range users {
		id := fmt.Sprintf("%08x%016x", rand.Uint32(), rand.Uint64())
		email := fmt.Sprintf("%s-%d@bench.example.com", role, i)
		tok, _, err := signer.Issue(id, email)
		if err != nil {
			return nil, err
		}
		users[i] = User{ID: id, Email: email, Token: tok}
	}
	return users, nil
}

// SigningKey is the private key the stack's auth service signs session tokens with.
func (s *Stack) SigningKey() (ed25519.PrivateKey, error) {
	pem, err := os.ReadFile(filepath.Join(s.dataDir, "data", "keys", "jwt-private.pem"))
	if err != nil {
		return nil, fmt.Errorf("the stack's signing key: %w", err)
	}
	return authn.ParsePrivateKey(string(pem))
}

// eventTickets lists the ids of an event's n tickets (all free before the sale).
func (b *Bench) eventTickets(ctx context.Context, eventID string, n int) ([]string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		var ids []string
		after := ""
		for {
			page, r, err := b.client.EventTickets(ctx, apiclient.Auth{}, eventID, 500, after)
			if err != nil {
				return nil, fmt.Errorf("list the event's tickets: %s", r)
			}
			if len(page) == 0 {
				break
			}
			for _, t := range page {
				ids = append(ids, t.ID)
			}
			after = page[len(page)-1].ID
		}
		if len(ids) == n {
			return ids, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the event lists %d of its %d tickets after a minute", len(ids), n)
		}
		if err := sleep(ctx, time.Second); err != nil { // the listing is cached for up to a second
			return nil, err
		}
	}
}

// sale is the state of one run of the scenario, shared by the buyers.
type sale struct {
	b        *Bench
	event    string
	open     time.Time
	nTickets int
	queueSem chan struct{} // bounds the waiting-room calls in flight

	done      chan struct{}
	stopOnce  sync.Once
	stoppedAt time.Time

	joins, lookups, listings, orders, accepted *Recorder

	mu      sync.Mutex
	entries []lineEntry
	tried   map[int]bool
	wins    map[string][]string // ticket -> orders accepted
	lastWin time.Time

	lastEarlyJoin time.Time // the last early joiner's answer

	sold, admitted                     atomic.Int64
	passRefused, notReplicated, gaveUp atomic.Int64
}

func (s *sale) stop() {
	s.stopOnce.Do(func() {
		s.stoppedAt = time.Now()
		close(s.done)
	})
}

func (s *sale) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// sleepUntil waits until t, the end of the sale or of ctx; false when the sale is over.
func (s *sale) sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-s.done:
	case <-ctx.Done():
	}
	return false
}

func (s *sale) progress() string {
	phase := "before the opening"
	if now := time.Now(); !now.Before(s.open) {
		phase = fmt.Sprintf("open %.0fs", now.Sub(s.open).Seconds())
	}
	return fmt.Sprintf("%s  joined %d  look-ups %d  admitted %d  sold %d/%d  orders 201:%d other:%d",
		phase, s.joins.Count(http.StatusOK), s.lookups.Total(), s.admitted.Load(), s.sold.Load(), s.nTickets,
		s.accepted.Total(), s.orders.Total()-s.accepted.Total())
}

// queueCall runs one waiting-room call within the bound of calls in flight.
func (s *sale) queueCall(ctx context.Context, rec *Recorder, call func() (apiclient.Place, Resp, error)) (apiclient.Place, Resp, error) {
	select {
	case s.queueSem <- struct{}{}:
	case <-ctx.Done():
		return apiclient.Place{}, Resp{Err: ctx.Err()}, ctx.Err()
	}
	pl, r, err := call()
	<-s.queueSem
	rec.Add(r)
	return pl, r, err
}

// buyer is one buyer: join, poll until admitted, order, stop.
func (s *sale) buyer(ctx context.Context, i int, u User) error {
	auth := apiclient.Bearer(u.Token)
	var pl apiclient.Place
	for attempt := 0; ; attempt++ {
		var r Resp
		var err error
		pl, r, err = s.queueCall(ctx, s.joins, func() (apiclient.Place, Resp, error) { return s.b.client.JoinQueue(ctx, auth, s.event) })
		if err == nil {
			s.mu.Lock()
			s.entries[i].Joined = r.Start
			if !s.entries[i].Late && r.End.After(s.lastEarlyJoin) {
				s.lastEarlyJoin = r.End
			}
			s.mu.Unlock()
			break
		}
		// 404: the waiting room has not learnt of the event yet (the first joiners only).
		if ctx.Err() != nil || (!apiclient.IsStatus(err, http.StatusNotFound) && r.Status < 500 && r.Err == nil) || attempt >= 600 {
			return fmt.Errorf("join the waiting room: %s", r)
		}
		if !s.sleepUntil(ctx, time.Now().Add(100*time.Millisecond)) {
			return nil
		}
	}
	for pl.Status != apiclient.PlaceAdmitted {
		if !s.sleepUntil(ctx, time.Now().Add(s.pollWait(pl))) {
			return nil
		}
		next, r, err := s.queueCall(ctx, s.lookups, func() (apiclient.Place, Resp, error) { return s.b.client.QueuePlace(ctx, auth, s.event) })
		switch {
		case err == nil:
			pl = next
		case apiclient.IsStatus(err, http.StatusNotFound):
			// Out of the line (a pass lapsed before this buyer saw it): join again, at the back.
			if next, _, err := s.queueCall(ctx, s.joins, func() (apiclient.Place, Resp, error) { return s.b.client.JoinQueue(ctx, auth, s.event) }); err == nil {
				pl = next
			}
		default:
			_ = r // counted by the recorder; poll again
		}
	}
	s.admitted.Add(1)
	s.mu.Lock()
	if pl.PassExpiresAt != nil {
		s.entries[i].Admitted = *pl.PassExpiresAt
	}
	s.tried[i] = true
	s.mu.Unlock()
	s.order(ctx, u, pl.Pass)
	return nil
}

// pollWait is how long a buyer waits before looking at its place again: the room's estimate,
// within the scenario's bounds, with a fifth either way of jitter.
func (s *sale) pollWait(pl apiclient.Place) time.Duration {
	d := time.Duration(pl.EstimatedWaitSeconds) * time.Second
	if pl.Status == apiclient.PlaceClosed {
		d = s.b.cfg.OnsalePollMax
	}
	d = min(max(d, s.b.cfg.OnsalePollMin), s.b.cfg.OnsalePollMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// order has an admitted buyer order one free ticket of the event as a person would: from a
// page of the event's listing, in random order, the next on 409 reserved, and a fresh page
// after pageTries refusals (the page is going stale), until one is accepted, the listing is
// empty, or the buyer is refused for another reason.
func (s *sale) order(ctx context.Context, u User, pass string) {
	const pageTries = 3
	for page := 0; page < 100 && ctx.Err() == nil && !s.stopped(); page++ {
		tks, r, err := s.b.client.EventTickets(ctx, apiclient.Auth{}, s.event, 100, "")
		s.listings.Add(r)
		if err != nil {
			if !s.sleepUntil(ctx, time.Now().Add(200*time.Millisecond)) {
				return
			}
			continue
		}
		if len(tks) == 0 {
			return // sold out
		}
		for i, k := range rand.Perm(len(tks)) {
			if i == pageTries {
				break
			}
			if s.stopped() { // the deadline: no more attempts
				s.gaveUp.Add(1)
				return
			}
			r := s.b.placeOrderPass(ctx, &s.notReplicated, u, tks[k].ID, pass, s.orders)
			if r.Status == http.StatusConflict && firstMessage(r) == "Not on sale yet" {
				// The orders service has not learnt of the opening yet (its clock, or the
				// event on its way): the pass stands, try again in a moment.
				if sleep(ctx, 100*time.Millisecond) != nil {
					return
				}
				r = s.b.placeOrderPass(ctx, &s.notReplicated, u, tks[k].ID, pass, s.orders)
			}
			switch {
			case r.Err == nil && r.Status == http.StatusCreated:
				s.accepted.Add(r)
				var o Order
				_ = r.Decode(&o)
				s.mu.Lock()
				s.wins[tks[k].ID] = append(s.wins[tks[k].ID], o.ID)
				if r.End.After(s.lastWin) {
					s.lastWin = r.End
				}
				s.mu.Unlock()
				if int(s.sold.Add(1)) >= s.nTickets {
					s.stop()
				}
				return
			case r.Status == http.StatusConflict && firstMessage(r) == "Ticket is already reserved":
				continue
			case r.Status == http.StatusForbidden:
				s.passRefused.Add(1)
				return
			case r.Err != nil || r.Status >= 500:
				continue // counted; try another ticket
			default: // the limit, or anything else: this buyer is done
				s.gaveUp.Add(1)
				return
			}
		}
	}
	s.gaveUp.Add(1)
}

func firstMessage(r Resp) string {
	if e := r.Errors(); len(e) > 0 {
		return e[0].Message
	}
	return ""
}

// snapshotLine reads the place of every buyer not seen admitted once the sale is over: the
// admitted ones get their pass's start, the others their place in the line (closed, so the
// places stand still). It returns how many were still waiting (the line not closed: the
// run ended at the deadline, or tickets were free again), after up to 5 tries 2 s apart.
func (s *sale) snapshotLine(ctx context.Context, buyers []User, rec *Recorder) (int, error) {
	var waiting int
	for try := 0; try < 5; try++ {
		var mu sync.Mutex
		waiting = 0
		err := parallel(ctx, len(buyers), s.b.cfg.OnsaleConns, func(ctx context.Context, i int) error {
			s.mu.Lock()
			e := s.entries[i]
			s.mu.Unlock()
			if !e.Admitted.IsZero() || e.Joined.IsZero() {
				return nil
			}
			pl, r, err := s.b.client.QueuePlace(ctx, apiclient.Bearer(buyers[i].Token), s.event)
			rec.Add(r)
			if err != nil {
				if apiclient.IsStatus(err, http.StatusNotFound) {
					return nil
				}
				return fmt.Errorf("the line after the sale: %s", r)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			switch {
			case pl.Status == apiclient.PlaceAdmitted && pl.PassExpiresAt != nil:
				s.entries[i].Admitted = *pl.PassExpiresAt
			case pl.Position != nil:
				s.entries[i].Position = *pl.Position
			}
			if pl.Status == apiclient.PlaceWaiting {
				mu.Lock()
				waiting++
				mu.Unlock()
			}
			return nil
		})
		if err != nil || waiting == 0 || s.sold.Load() < int64(s.nTickets) {
			return waiting, err
		}
		if err := sleep(ctx, 2*time.Second); err != nil { // the room learns of the last orders from the bus
			return waiting, err
		}
	}
	return waiting, nil
}

func doubleWins(wins map[string][]string) int {
	n := 0
	for _, orders := range wins {
		if len(orders) > 1 {
			n++
		}
	}
	return n
}

// lineEntry is what the scenario saw of one buyer: when it joined (the request sent), when
// its pass ends if admitted (the same life for every pass, so the order of the ends is the
// order of admission), else its place in the line after the sale (1 first; 0 unknown).
type lineEntry struct {
	Late     bool
	Joined   time.Time
	Admitted time.Time
	Position int64
}

// correlation is Spearman's rank correlation over N buyers (NaN when N < 2 or a side has a
// single rank).
type correlation struct {
	N   int
	Rho float64
}

func (c correlation) defined() bool { return c.N >= 2 && !math.IsNaN(c.Rho) }

func (c correlation) String() string {
	if !c.defined() {
		return fmt.Sprintf("n/a (n=%d)", c.N)
	}
	return fmt.Sprintf("%.3f (n=%d)", c.Rho, c.N)
}

// lineCorrelations is the rank correlation between the order of joining and the order of
// admission: of the early joiners who were admitted, of all early joiners, and of all late
// joiners. The order of admission puts the admitted buyers first, by the end of their pass
// (buyers admitted in the same round tie), then the others by their place in the line;
// buyers with neither are left out.
func lineCorrelations(es []lineEntry) (earlyAdmitted, early, late correlation) {
	type key struct {
		tier int
		v    int64
	}
	keyOf := func(e lineEntry) (key, bool) {
		switch {
		case !e.Admitted.IsZero():
			return key{0, e.Admitted.UnixNano()}, true
		case e.Position > 0:
			return key{1, e.Position}, true
		}
		return key{}, false
	}
	corr := func(keep func(lineEntry) bool) correlation {
		var joined []float64
		var adm []key
		for _, e := range es {
			k, ok := keyOf(e)
			if !ok || e.Joined.IsZero() || !keep(e) {
				continue
			}
			joined = append(joined, float64(e.Joined.UnixNano()))
			adm = append(adm, k)
		}
		ra := ranksBy(len(adm), func(i, j int) int {
			if c := adm[i].tier - adm[j].tier; c != 0 {
				return c
			}
			return cmp.Compare(adm[i].v, adm[j].v)
		})
		rj := ranksBy(len(joined), func(i, j int) int { return cmp.Compare(joined[i], joined[j]) })
		return correlation{N: len(joined), Rho: pearson(rj, ra)}
	}
	earlyAdmitted = corr(func(e lineEntry) bool { return !e.Late && !e.Admitted.IsZero() })
	early = corr(func(e lineEntry) bool { return !e.Late })
	late = corr(func(e lineEntry) bool { return e.Late })
	return
}

// admissionRate is how many buyers a minute the room admitted, from the first admission to the
// last: those admitted after the first instant over the time between (a pass's end is its
// start plus the same life for all). Not ok with fewer than two instants.
func admissionRate(es []lineEntry) (float64, bool) {
	var at []time.Time
	for _, e := range es {
		if !e.Admitted.IsZero() {
			at = append(at, e.Admitted)
		}
	}
	if len(at) < 2 {
		return 0, false
	}
	slices.SortFunc(at, time.Time.Compare)
	span := at[len(at)-1].Sub(at[0])
	if span <= 0 {
		return 0, false
	}
	first := 0
	for first < len(at) && at[first].Equal(at[0]) {
		first++
	}
	return float64(len(at)-first) / span.Minutes(), true
}

// spearman is Spearman's rank correlation of xs and ys (ties get their average rank).
func spearman(xs, ys []float64) float64 {
	rx := ranksBy(len(xs), func(i, j int) int { return cmp.Compare(xs[i], xs[j]) })
	ry := ranksBy(len(ys), func(i, j int) int { return cmp.Compare(ys[i], ys[j]) })
	return pearson(rx, ry)
}

// ranksBy ranks n items (1 for the least) by cmp; tied items get the average of their ranks.
func ranksBy(n int, cmp func(i, j int) int) []float64 {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, cmp)
	ranks := make([]float64, n)
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && cmp(idx[lo], idx[hi]) == 0 {
			hi++
		}
		avg := float64(lo+hi+1) / 2 // ranks lo+1..hi
		for _, k := range idx[lo:hi] {
			ranks[k] = avg
		}
		lo = hi
	}
	return ranks
}

// pearson is the correlation coefficient of xs and ys (NaN when either is constant or shorter than 2).
func pearson(xs, ys []float64) float64 {
	n := len(xs)
	if n < 2 || len(ys) != n {
		return math.NaN()
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx, my = mx/float64(n), my/float64(n)
	var sxy, sxx, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// onsaleOutcome is what the scenario measured, reported by report.
type onsaleOutcome struct {
	Tickets       int
	AdmitPerMin   int // the event's admitPerMinute
	Open, Stopped time.Time
	LastWin       time.Time // the last 201
	Entries       []lineEntry

	Joins, Lookups, Listings, Orders, Accepted, Snapshot *Recorder

	DoubleResponses int
	Holds           holdCheck
	NotClosed       int // buyers still waiting in the snapshot of the line
	PassRefused     int // 403s of admitted buyers
	NotReplicated   int
	GaveUp          int // admitted buyers who did not get a ticket
}

// report adds the outcome's numbers and checks to res.
func (o onsaleOutcome) report(res *Result) {
	sold := o.Accepted.Total()
	admitted := 0
	for _, e := range o.Entries {
		if !e.Admitted.IsZero() {
			admitted++
		}
	}
	res.metric("buyers admitted", float64(admitted), "")
	if rate, ok := admissionRate(o.Entries); ok {
		res.metric("admissions a minute, first to last pass", round2(rate), "a minute")
		if o.AdmitPerMin > 0 {
			res.metric("admissions a minute / admitPerMinute", round2(rate/float64(o.AdmitPerMin)), "")
		}
	}
	res.metric("orders accepted (201)", float64(sold), "")
	if sold > 0 && o.LastWin.After(o.Open) {
		d := o.LastWin.Sub(o.Open)
		label := "time from the opening to the last ticket held"
		if sold >= o.Tickets {
			label = "time from the opening to sold out"
		}
		res.metric(label, round2(d.Seconds()), "s")
		res.metric("orders/s from the opening to the last 201", round2(float64(sold)/d.Seconds()), "orders/s")
	}
	if span := o.Lookups.Span(); span > 0 {
		res.metric("queue look-ups (GET /api/queue/{id})", float64(o.Lookups.Total()), "")
		res.metric("queue look-ups/s", round2(float64(o.Lookups.Total())/span.Seconds()), "look-ups/s")
	}
	res.record("POST /api/queue/{id} (join)", o.Joins)
	res.record("GET /api/queue/{id} (look-up)", o.Lookups)
	res.record("GET /api/tickets?eventId (admitted buyers)", o.Listings)
	res.record("POST /api/orders (admitted buyers, all)", o.Orders)
	res.record("POST /api/orders (201 only)", o.Accepted)
	res.record("GET /api/queue/{id} (the line after the sale)", o.Snapshot)

	ea, e, l := lineCorrelations(o.Entries)
	for _, c := range []struct {
		name string
		c    correlation
	}{{"early joiners admitted", ea}, {"all early joiners", e}, {"late joiners", l}} {
		if c.c.defined() { // JSON has no NaN
			res.metric("rank correlation, admission vs joining: "+c.name, round3(c.c.Rho), fmt.Sprintf("(Spearman, n=%d)", c.c.N))
		}
	}
	res.target("rank correlation of the early joiners (random order)", "|rho| < 0.1", e, e.defined() && math.Abs(e.Rho) < 0.1)
	if l.N > 0 {
		res.target("rank correlation of the late joiners (order of joining)", "> 0.9", l, l.Rho > 0.9)
	}

	fivexx, unanswered := 0, 0
	for _, rec := range []*Recorder{o.Joins, o.Lookups, o.Listings, o.Orders, o.Snapshot} {
		for status, n := range rec.Statuses() {
			if status == "error" {
				unanswered += n
			} else if len(status) == 3 && status[0] == '5' {
				fivexx += n
			}
		}
	}
	res.invariant("5xx answers", "0", fivexx, fivexx == 0)
	res.target("requests without an answer", "0", unanswered, unanswered == 0)
	lat := o.Orders.Summary()
	res.target("p99 POST /api/orders (admitted buyers)", "< 250ms", fmtMs(lat.P99), lat.Count > 0 && lat.P99 < 250)
	res.target("tickets sold", fmt.Sprint(o.Tickets), sold, sold == o.Tickets)
	res.target("admitted buyers refused (403 with their pass)", "0", o.PassRefused, o.PassRefused == 0)
	res.invariant("tickets with more than one 201", "0", o.DoubleResponses, o.DoubleResponses == 0)
	o.Holds.report(res)
	if o.NotClosed > 0 {
		res.note("%d buyers were still waiting (not closed) when the line was read after the sale: their places may have moved while it was read", o.NotClosed)
	}
	if o.GaveUp > 0 {
		res.note("%d admitted buyers got no ticket", o.GaveUp)
	}
	if o.NotReplicated > 0 {
		res.note("%d answers were 404 because a ticket was not replicated yet; each was sent again", o.NotReplicated)
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
