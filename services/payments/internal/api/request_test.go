package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"ticketing/common/errs"
	"ticketing/common/web"
	"ticketing/services/payments/internal/payment"
)

func ptr(s string) *string { return &s }

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name     string
		order    string
		pm, tok  *string
		want     payment.Method
		badField string
	}{
		{"method", "o1", ptr("pm_card_visa"), nil, payment.Method{PaymentMethod: "pm_card_visa"}, ""},
		{"token", "o1", nil, ptr("tok_visa"), payment.Method{Token: "tok_visa"}, ""},
		{"neither", "o1", nil, nil, payment.Method{}, ""},
		{"both", "o1", ptr("pm_card_visa"), ptr("tok_visa"), payment.Method{}, "token"},
		{"no order", "", ptr("pm_card_visa"), nil, payment.Method{}, "orderId"},
		{"empty method", "o1", ptr(""), nil, payment.Method{}, "paymentMethodId"},
		{"odd method", "o1", ptr("pm card"), nil, payment.Method{}, "paymentMethodId"},
		{"empty token", "o1", nil, ptr(""), payment.Method{}, "token"},
		{"long order id", strings.Repeat("x", 2000), nil, nil, payment.Method{}, "orderId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, m, err := createRequest{OrderID: tc.order, PaymentMethodID: tc.pm, Token: tc.tok}.parse()
			if tc.badField == "" {
				if err != nil || m != tc.want {
					t.Fatalf("got %+v, %v", m, err)
				}
				return
			}
			e, ok := err.(*errs.Error)
			if !ok || e.Kind != errs.Invalid {
				t.Fatalf("got %v, want a 400 about %s", err, tc.badField)
			}
			if e.Fields[0].Field != tc.badField {
				t.Fatalf("field %q, want %q", e.Fields[0].Field, tc.badField)
			}
		})
	}
}

// GET /api/payments/config answers the provider and, with Stripe, its publishable key, to
// anyone.
func TestClientConfig(t *testing.T) {
	r := web.NewRouter(slog.New(slog.DiscardHandler), nil)
	Routes(r, &Handler{Client: ClientConfig{Provider: "stripe", PublishableKey: "pk_test_1", Currency: "usd"}})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/payments/config", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"provider":"stripe","publishableKey":"pk_test_1","currency":"usd"}` {
		t.Fatalf("GET /api/payments/config: %d %s", rec.Code, rec.Body)
	}
}
