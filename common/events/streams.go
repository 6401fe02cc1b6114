package events

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names, one per aggregate, plus the dead-letter stream.
const (
	StreamTickets    = "TICKETS"
	StreamOrders     = "ORDERS"
	StreamExpiration = "EXPIRATION"
	StreamPayments   = "PAYMENTS"
	StreamEvents     = "EVENTS"
	StreamSessions   = "SESSIONS"
	StreamDeadLetter = "DEADLETTER"
)

// SessionRetention is how long the SESSIONS stream keeps a revocation, so that a replica
// starting up learns every one still in force: it outlasts the longest token lifetime the
// auth service accepts (its TOKEN_TTL must not exceed it).
const SessionRetention = 7 * 24 * time.Hour

// DefaultDuplicateWindow is how long JetStream remembers an event id to drop a republish.
// It must outlast any outbox retry; the expiration service keeps finished task ids at least
// this long (TASK_RETENTION), so a late duplicate order.created schedules nothing.
const DefaultDuplicateWindow = 10 * time.Minute

var streamSubjects = map[string]string{
	StreamTickets:    "ticket",
	StreamOrders:     "order",
	StreamExpiration: "expiration",
	StreamPayments:   "payment",
	StreamEvents:     "event",
	StreamSessions:   "session",
	StreamDeadLetter: "deadletter",
}

// Topology names the streams, subjects and consumers of one deployment. A Prefix puts every
// subject and stream under its own name, so that deployments or tests can share a server.
type Topology struct {
	Prefix     string        // "" in production; letters, digits, '_' otherwise
	Replicas   int           // JetStream replicas per stream, 1 by default
	Duplicates time.Duration // DefaultDuplicateWindow by default
	MaxAge     time.Duration // how long events are kept; 0 keeps them, so a new replica can catch up
}

// Subject is subject as sent on the wire.
func (t Topology) Subject(subject string) string {
	if t.Prefix == "" {
		return subject
	}
	return t.Prefix + "." + subject
}

// Unprefixed is the logical subject of a wire subject.
func (t Topology) Unprefixed(wire string) string {
	if t.Prefix == "" {
		return wire
	}
	return strings.TrimPrefix(wire, t.Prefix+".")
}

// Stream is the wire name of stream.
func (t Topology) Stream(stream string) string {
	if t.Prefix == "" {
		return stream
	}
	return strings.ToUpper(t.Prefix) + "_" + stream
}

// StreamOf is the wire name of the stream carrying subject.
func (t Topology) StreamOf(subject string) string {
	aggregate, _, _ := strings.Cut(subject, ".")
	for stream, prefix := range streamSubjects {
		if prefix == aggregate {
			return t.Stream(stream)
		}
	}
	return ""
}

// DeadLetterSubject is where a consumer's undeliverable events go.
func (t Topology) DeadLetterSubject(durable string) string {
	return t.Subject("deadletter." + durable)
}

// Durable is the durable consumer name of service for subject: "<service>-<aggregate>-<verb>".
// These names are never changed: a new name would replay the stream from its start.
func Durable(service, subject string) string {
	return service + "-" + strings.ReplaceAll(subject, ".", "-")
}

// Streams is every stream's configuration: file storage, replicas, duplicate window.
func (t Topology) Streams() []jetstream.StreamConfig {
	replicas := max(t.Replicas, 1)
	dup := t.Duplicates
	if dup <= 0 {
		dup = DefaultDuplicateWindow
	}
	var out []jetstream.StreamConfig
	for _, name := range []string{StreamTickets, StreamOrders, StreamExpiration, StreamPayments, StreamEvents, StreamSessions, StreamDeadLetter} {
		maxAge := t.MaxAge
		if name == StreamDeadLetter && maxAge == 0 {
			maxAge = 30 * 24 * time.Hour
		}
		if name == StreamSessions && (maxAge == 0 || maxAge > SessionRetention) {
			maxAge = SessionRetention
		}
		out = append(out, jetstream.StreamConfig{
			Name:        t.Stream(name),
			Description: "ticketing " + streamSubjects[name] + " events",
			Subjects:    []string{t.Subject(streamSubjects[name] + ".>")},
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Duplicates:  dup,
			MaxAge:      maxAge,
		})
	}
	return out
}
