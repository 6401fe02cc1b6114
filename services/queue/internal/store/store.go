// Package store keeps the waiting rooms in Redis. Each event has its own keys, under one hash
// tag so that a Redis Cluster keeps them on one node: the sale (a hash), the line (a sorted
// set of user ids by line.Score), the passes (a sorted set of user ids by the pass's end, in
// milliseconds), the admitted buyers who have not ordered yet (same), the admission bucket,
// and the event's tickets that orders hold or sold (a hash ticket -> order). Every decision
// that must hold across replicas (join, admit, the effect of an order event) is one Lua
// script, which Redis runs atomically.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing/services/queue/internal/line"
)

// Store is the waiting rooms in Redis.
type Store struct {
	rc     redis.UniversalClient
	prefix string
}

// New is the store on rc; prefix (may be "") comes before every key, so that deployments or
// tests can share a Redis.
func New(rc redis.UniversalClient, prefix string) *Store {
	return &Store{rc: rc, prefix: prefix}
}

// keys are one event's keys.
type keys struct {
	sale, line, passes, pending, bucket, held, cancelled, seq string
}

func (s *Store) keys(eventID string) keys {
	base := s.prefix + "queue:{" + eventID + "}:"
	return keys{
		sale: base + "sale", line: base + "line", passes: base + "passes", pending: base + "pending",
		bucket: base + "bucket", held: base + "held", cancelled: base + "cancelled", seq: base + "seq",
	}
}

func (s *Store) eventsKey() string { return s.prefix + "queue:events" }

// cancelledTTL is how long an event's cancelled orders are remembered, so that a late
// order.created of a cancelled order holds nothing. It outlasts any redelivery.
const cancelledTTL = 7 * 24 * time.Hour

// AddSale stores an event's sale (event.created). A redelivery writes the same values.
func (s *Store) AddSale(ctx context.Context, sale line.Sale) error {
	k := s.keys(sale.EventID)
	// The sale first: an event listed without its sale would be skipped by the admissions.
	_, err := s.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k.sale, "onSaleAt", sale.OnSaleAt.UnixMilli(), "admitPerMinute", sale.AdmitPerMinute, "ticketCount", sale.TicketCount)
		p.SAdd(ctx, s.eventsKey(), sale.EventID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store the sale of event %s: %w", sale.EventID, err)
	}
	return nil
}

// Sale reads an event's sale; line.ErrUnknownEvent when the waiting room has not learnt of it.
func (s *Store) Sale(ctx context.Context, eventID string) (line.Sale, error) {
	vals, err := s.rc.HMGet(ctx, s.keys(eventID).sale, "onSaleAt", "admitPerMinute", "ticketCount").Result()
	if err != nil {
		return line.Sale{}, fmt.Errorf("read the sale of event %s: %w", eventID, err)
	}
	n := make([]int64, len(vals))
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			return line.Sale{}, line.ErrUnknownEvent
		}
		if n[i], err = strconv.ParseInt(str, 10, 64); err != nil {
			return line.Sale{}, fmt.Errorf("the sale of event %s: %w", eventID, err)
		}
	}
	return line.Sale{EventID: eventID, OnSaleAt: time.UnixMilli(n[0]).UTC(), AdmitPerMinute: int(n[1]), TicketCount: int(n[2])}, nil
}

// Events is every event the waiting room knows.
func (s *Store) Events(ctx context.Context) ([]string, error) {
	ids, err := s.rc.SMembers(ctx, s.eventsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return ids, nil
}

// join puts a user in the line unless they are in it or hold a live pass. Before the sale
// the score is the random draw ARGV[3]; after, the next late score. A lapsed pass is dropped
// and the user joins at the back.
var join = redis.NewScript(`
local onsale = redis.call('HGET', KEYS[1], 'onSaleAt')
if not onsale then return -1 end
local now = tonumber(ARGV[2])
local exp = redis.call('ZSCORE', KEYS[3], ARGV[1])
if exp then
  if tonumber(exp) > now then return 1 end
  redis.call('ZREM', KEYS[3], ARGV[1])
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
local score
if now < tonumber(onsale) then
  score = tonumber(ARGV[3])
else
  score = 1 + redis.call('INCR', KEYS[4])
end
redis.call('ZADD', KEYS[2], score, ARGV[1])
return 0
`)

// Join puts userID in event eventID's line at now (idempotent). Errors: line.ErrUnknownEvent.
func (s *Store) Join(ctx context.Context, eventID, userID string, now time.Time) error {
	k := s.keys(eventID)
	res, err := join.Run(ctx, s.rc, []string{k.sale, k.line, k.passes, k.seq},
		userID, now.UnixMilli(), strconv.FormatFloat(line.EarlyScore(rand.Float64()), 'g', -1, 64)).Int()
	if err != nil {
		return fmt.Errorf("join the line of event %s: %w", eventID, err)
	}
	if res < 0 {
		return line.ErrUnknownEvent
	}
	return nil
}

// Entry is what the store holds of userID in event eventID's waiting room, and how many of
// the event's tickets are free.
func (s *Store) Entry(ctx context.Context, eventID, userID string, ticketCount int) (line.Entry, int, error) {
	k := s.keys(eventID)
	var rank *redis.IntCmd
	var pass *redis.FloatCmd
	var held *redis.IntCmd
	_, err := s.rc.Pipelined(ctx, func(p redis.Pipeliner) error {
		rank = p.ZRank(ctx, k.line, userID)
		pass = p.ZScore(ctx, k.passes, userID)
		held = p.HLen(ctx, k.held)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return line.Entry{}, 0, fmt.Errorf("read the place of %s in event %s: %w", userID, eventID, err)
	}
	e := line.Entry{Rank: -1}
	if r, err := rank.Result(); err == nil {
		e.Rank = r
	}
	if ms, err := pass.Result(); err == nil {
		e.PassExpires = time.UnixMilli(int64(ms)).UTC()
	}
	return e, ticketCount - int(held.Val()), nil
}

// admit lets buyers in: from the sale's opening, the bucket fills at the admission rate (per
// millisecond, ARGV[2]) up to the burst (ARGV[3]); lapsed passes free their room; while free
// tickets (the count less the held ones) outnumber the admitted buyers who have not ordered,
// the first of the line are given a pass until now + the pass's life (ARGV[4]), one per whole
// token. It returns how many it admitted.
var admit = redis.NewScript(`
local onsale = tonumber(redis.call('HGET', KEYS[1], 'onSaleAt'))
local count = tonumber(redis.call('HGET', KEYS[1], 'ticketCount'))
local now = tonumber(ARGV[1])
if not onsale or now < onsale then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local tokens = tonumber(redis.call('HGET', KEYS[5], 'tokens') or '0')
local last = tonumber(redis.call('HGET', KEYS[5], 'last') or onsale)
tokens = math.min(tonumber(ARGV[3]), tokens + (now - last) * tonumber(ARGV[2]))
local room = count - redis.call('HLEN', KEYS[6]) - redis.call('ZCARD', KEYS[4])
local n = math.min(math.floor(tokens), room)
local admitted = 0
if n > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], n)
  local until_ = now + tonumber(ARGV[4])
  for i = 1, #popped, 2 do
    redis.call('ZADD', KEYS[3], until_, popped[i])
    redis.call('ZADD', KEYS[4], until_, popped[i])
    admitted = admitted + 1
  end
  tokens = tokens - admitted
end
redis.call('HSET', KEYS[5], 'tokens', tokens, 'last', now)
return admitted
`)

// Admit runs one round of admissions of sale at now (see admit), passes living ttl; it
// returns how many buyers it admitted. Any replica may run it at any time.
func (s *Store) Admit(ctx context.Context, sale line.Sale, now time.Time, tick, ttl time.Duration) (int, error) {
	k := s.keys(sale.EventID)
	n, err := admit.Run(ctx, s.rc, []string{k.sale, k.line, k.passes, k.pending, k.bucket, k.held},
		now.UnixMilli(), float64(sale.AdmitPerMinute)/60000, sale.Burst(tick), ttl.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("admit to event %s: %w", sale.EventID, err)
	}
	return n, nil
}

// held applies an order event to the event's held tickets: ARGV[1] created, cancelled or
// completed; ARGV[2] the ticket, ARGV[3] the order, ARGV[4] its user. A created order holds
// the ticket (unless it was cancelled already: a late event) and its buyer has ordered; a
// cancelled one frees the ticket if it holds it; a completed one keeps it for good.
var held = redis.NewScript(`
local kind, ticket, order = ARGV[1], ARGV[2], ARGV[3]
if kind == 'cancelled' then
  redis.call('SADD', KEYS[2], order)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  if redis.call('HGET', KEYS[1], ticket) == order then redis.call('HDEL', KEYS[1], ticket) end
  return 0
end
if redis.call('SISMEMBER', KEYS[2], order) == 1 then return 0 end
redis.call('HSET', KEYS[1], ticket, order)
if kind == 'created' and ARGV[4] ~= '' then redis.call('ZREM', KEYS[3], ARGV[4]) end
return 0
`)

// OrderEvent kinds.
const (
	OrderCreated   = "created"
	OrderCancelled = "cancelled"
	OrderCompleted = "completed"
)

// ApplyOrder applies an order event of kind (OrderCreated...) for a ticket of event eventID.
// Each is safe to apply twice and in any order.
func (s *Store) ApplyOrder(ctx context.Context, kind, eventID, ticketID, orderID, userID string) error {
	k := s.keys(eventID)
	err := held.Run(ctx, s.rc, []string{k.held, k.cancelled, k.pending}, kind, ticketID, orderID, userID, cancelledTTL.Milliseconds()).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("order %s %s in event %s: %w", orderID, kind, eventID, err)
	}
	return nil
}
