package api

import (
	"bytes"
	"encoding/json"

	"ticketing/services/tickets/internal/ticket"
)

// ticketRequest is the body of POST and PUT /api/tickets. Price is kept as the raw JSON value
// so that it is converted to cents from its decimal text, never through a float, and so that
// a string such as "20" is refused rather than read as a number.
type ticketRequest struct {
	Title *string         `json:"title"`
	Price json.RawMessage `json:"price"`
}

// details checks the request with the domain's rules; the error names each field at fault.
func (b ticketRequest) details() (ticket.Details, error) {
	var price *string
	if raw := bytes.TrimSpace(b.Price); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		s := string(raw)
		price = &s
	}
	d, err := ticket.NewDetails(b.Title, price)
	if err != nil {
		return ticket.Details{}, toHTTP(err)
	}
	return d, nil
}

// ticketResponse is a ticket as the API shows it. Price is the major unit as a JSON number
// written from the cents (2010 is 20.1); OrderID is left out while the ticket is free. Status
// says what a buyer can do with it: available, reserved (an order holds it) or sold.
type ticketResponse struct {
	ID      string      `json:"id"`
	Title   string      `json:"title"`
	Price   json.Number `json:"price"`
	UserID  string      `json:"userId"`
	Version int64       `json:"version"`
	OrderID string      `json:"orderId,omitempty"`
	Status  string      `json:"status"`
	EventID string      `json:"eventId,omitempty"`
}

// Ticket statuses as the API shows them.
const (
	statusAvailable = "available"
	statusReserved  = "reserved"
	statusSold      = "sold"
)

func status(t ticket.Ticket) string {
	switch {
	case t.Sold:
		return statusSold
	case t.OrderID != "":
		return statusReserved
	}
	return statusAvailable
}

func toResponse(t ticket.Ticket) ticketResponse {
	return ticketResponse{
		ID:      t.ID,
		Title:   t.Title,
		Price:   json.Number(ticket.FormatPrice(t.PriceCents)),
		UserID:  t.UserID,
		Version: t.Version,
		OrderID: t.OrderID,
		Status:  status(t),
		EventID: t.EventID,
	}
}
