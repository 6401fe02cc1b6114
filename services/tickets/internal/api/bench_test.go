package api

import "testing"

// BenchmarkDecodeCreateTicket is what POST /api/tickets spends on its body before the
// database: JSON decoding with unknown fields refused, then the title and the exact
// decimal price rules.
func BenchmarkDecodeCreateTicket(b *testing.B) {
	body := []byte(`{"title":"Concert in the park","price":20.5}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, _, err := decodeTicket(body); err != nil {
			b.Fatal(err)
		}
	}
}
