package api

import (
	"encoding/json"
	"testing"
)

func TestPriceMarshalsExactDecimal(t *testing.T) {
	for cents, want := range map[int64]string{
		0: "0", 5: "0.05", 10: "0.1", 99: "0.99", 100: "1", 2000: "20", 2010: "20.1", 2015: "20.15",
		123456789012345: "1234567890123.45", -250: "-2.5",
	} {
		b, err := json.Marshal(Price(cents))
		if err != nil || string(b) != want {
			t.Errorf("Price(%d) = %s, %v; want %s", cents, b, err, want)
		}
	}
}
