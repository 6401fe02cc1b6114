package api

import (
	"bytes"
	"errors"
	"testing"

	"ticketing/common/errs"
	"ticketing/common/web"
)

// FuzzCreateOrder: any body of POST /api/orders is either a request with a ticket id or a
// 4xx error naming what is wrong; never a panic or a 5xx.
func FuzzCreateOrder(f *testing.F) {
	for _, s := range []string{`{"ticketId":"6b0613051de994f2a18526b6"}`, `{"ticketId":""}`, `{"ticketId":5}`,
		`{}`, `[]`, `{"ticketId":"a","x":1}`, `{"ticketId":"a"}{}`, "\xff", `{"ticketId":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req createRequest
		err := web.DecodeReader(bytes.NewReader(body), &req)
		if err == nil {
			err = req.validate()
		}
		if err == nil {
			if req.TicketID == "" {
				t.Fatal("accepted a request without a ticket id")
			}
			return
		}
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind.Status() < 400 || e.Kind.Status() >= 500 {
			t.Fatalf("%q: %v is not a 4xx", body, err)
		}
	})
}
