package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// badInput sends every route malformed, mistyped, oversized and unauthorised requests: each
// must answer 4xx with the error shape, never 5xx.
func badInput(t *testing.T, c *client, seller user, buyers []user) {
	tk := c.createTicket(seller, "Bad input", 5)
	var orderID string
	eventually(t, 20*time.Second, "order placed", func() bool {
		r := c.do("POST", "/api/orders", buyers[0].Token, map[string]string{"ticketId": tk.ID})
		if r.Status == 201 {
			orderID = r.Field("id")
		}
		return r.Status == 201
	})
	forged := buyers[0].Token[:len(buyers[0].Token)-4] + "AAAA"
	huge := `{"title":"` + strings.Repeat("x", 2<<20) + `","price":1}`
	bodies := []string{`{`, `[]`, `"x"`, `{"title":5,"price":"a"}`, `{"email":[],"password":{}}`,
		`{"ticketId":7}`, `{"orderId":null,"token":1}`, `{"unknown":true}`, "\x00\xff", huge}
	routes := []struct {
		method, path string
		auth         bool
	}{
		{"POST", "/api/users/signup", false},
		{"POST", "/api/users/signin", false},
		{"POST", "/api/tickets", true},
		{"PUT", "/api/tickets/" + tk.ID, true},
		{"POST", "/api/orders", true},
		{"POST", "/api/payments", true},
		{"POST", "/api/payments/webhook", false},
	}
	check := func(what string, r reply) {
		t.Helper()
		if r.Status < 400 || r.Status >= 500 {
			t.Errorf("%s: status %d: %.200s", what, r.Status, r.Body)
			return
		}
		var shape struct {
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		if err := json.Unmarshal(r.Body, &shape); err != nil || len(shape.Errors) == 0 || shape.Errors[0].Message == "" {
			t.Errorf("%s: not the error shape: %.200s", what, r.Body)
		}
	}
	for _, rt := range routes {
		for _, b := range bodies {
			tok := ""
			if rt.auth {
				tok = buyers[1].Token
				if rt.method == "PUT" {
					tok = seller.Token
				}
			}
			check(rt.method+" "+rt.path+" "+b[:min(len(b), 20)], c.do(rt.method, rt.path, tok, b))
		}
		if rt.auth {
			check(rt.method+" "+rt.path+" no token", c.do(rt.method, rt.path, "", `{}`))
			check(rt.method+" "+rt.path+" forged token", c.do(rt.method, rt.path, forged, `{}`))
		}
	}
	for _, path := range []string{"/api/tickets/nope", "/api/tickets/000000000000000000000000", "/api/orders/nope", "/api/nothing", "/api/users/nothing"} {
		check("GET "+path, c.do("GET", path, buyers[0].Token, nil))
	}
	check("another user's order", c.do("GET", "/api/orders/"+orderID, buyers[1].Token, nil))
	check("cancel another user's order", c.do("DELETE", "/api/orders/"+orderID, buyers[1].Token, nil))
	check("edit another user's ticket", c.do("PUT", "/api/tickets/"+tk.ID, buyers[1].Token, map[string]any{"title": "x", "price": 1}))
	check("pay another user's order", c.do("POST", "/api/payments", buyers[1].Token, map[string]string{"orderId": orderID, "token": "tok_visa"}))
	check("orders without a token", c.do("GET", "/api/orders", "", nil))
	check("bad paging", c.do("GET", "/api/tickets?limit=-1", "", nil))
	check("unsigned webhook", c.do("POST", "/api/payments/webhook", "", `{"id":"evt_1","type":"payment_intent.succeeded"}`))
	if r := c.do("GET", "/api/users/currentuser", forged, nil); r.Status != 200 || !strings.Contains(string(r.Body), `"currentUser":null`) {
		t.Errorf("currentuser with a forged token: %d %s", r.Status, r.Body)
	}
}
