package app

import "testing"

// orderPlacedSchema1 and orderPlacedSchema2 are one order of two lines as each
// schema writes it: the decode of the first runs the upcaster, the second none.
var orderPlacedSchema1 = []byte(`{"customerId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","currency":"EUR","lines":[{"productId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c","sku":"BENCH-00001","name":"Bench product 1","quantity":2,"unitPriceCents":1999},{"productId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d","sku":"BENCH-00002","name":"Bench product 2","quantity":1,"unitPriceCents":500}]}`)
var orderPlacedSchema2 = []byte(`{"customerId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","currency":"EUR","lines":[{"productId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c","sku":"BENCH-00001","name":"Bench product 1","quantity":2,"unitPriceCents":1999,"currency":"EUR"},{"productId":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d","sku":"BENCH-00002","name":"Bench product 2","quantity":1,"unitPriceCents":500,"currency":"EUR"}]}`)

// go test -run NONE -bench DecodeOrderPlaced -benchmem ./app/ prints what one
// upcast costs per event on this machine, beside the same order at schema 2.
func BenchmarkDecodeOrderPlacedSchema1(b *testing.B) {
	c := NewEventCodec()
	for b.Loop() {
		if _, err := c.Decode("OrderPlaced", 1, orderPlacedSchema1); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkDecodeOrderPlacedSchema2(b *testing.B) {
	c := NewEventCodec()
	for b.Loop() {
		if _, err := c.Decode("OrderPlaced", 2, orderPlacedSchema2); err != nil {
			b.Fatal(err)
		}
	}
}
