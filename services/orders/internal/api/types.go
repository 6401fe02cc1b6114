package api

import (
	"strconv"
	"ticketing/common/errs"
	"time"

	"ticketing/services/orders/internal/order"
)

// createRequest is the body of POST /api/orders.
type createRequest struct {
	TicketID string `json:"ticketId"`
}

func (r createRequest) validate() error {
	var v errs.Validation
	v.Check(r.TicketID != "", "ticketId", "ticketId is required")
	return v.Err()
}

// orderResponse is an order as REST shows it.
type orderResponse struct {
	ID        string           `json:"id"`
	UserID    string           `json:"userId"`
	Status    string           `json:"status"`
	ExpiresAt time.Time        `json:"expiresAt"`
	Version   int64            `json:"version"`
	Ticket    ticketResponse   `json:"ticket"`
	History   []changeResponse `json:"history"`
}

// changeResponse is one step of an order's history.
type changeResponse struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
	Cause  string    `json:"cause"`
}

type ticketResponse struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Price   Price  `json:"price"`
	Version int64  `json:"version"`
}

func toResponse(o order.Order) orderResponse {
	return orderResponse{
		ID:        o.ID,
		UserID:    o.UserID,
		Status:    string(o.Status),
		ExpiresAt: o.ExpiresAt.UTC(),
		Version:   o.Version,
		Ticket: ticketResponse{
			ID:      o.Ticket.ID,
			Title:   o.Ticket.Title,
			Price:   Price(o.Ticket.PriceCents),
			Version: o.Ticket.Version,
		},
		History: history(o),
	}
}

// history is o's history; an order stored before histories were kept shows its creation.
func history(o order.Order) []changeResponse {
	out := make([]changeResponse, 0, len(o.History))
	for _, c := range o.History {
		out = append(out, changeResponse{Status: string(c.Status), At: c.At.UTC(), Cause: string(c.Cause)})
	}
	return out
}

// Price is an amount in cents that JSON shows as a number of the major unit, written
// exactly from the integer (2010 -> 20.1, 2000 -> 20, 5 -> 0.05), never through a float.
type Price int64

// MarshalJSON writes the decimal number.
func (p Price) MarshalJSON() ([]byte, error) {
	c := int64(p)
	var b []byte
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	b = strconv.AppendInt(b, c/100, 10)
	switch frac := c % 100; {
	case frac == 0:
	case frac%10 == 0:
		b = append(b, '.', byte('0'+frac/10))
	default:
		b = append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return b, nil
}
