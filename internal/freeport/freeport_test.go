package freeport

import "testing"

// TestAddrNeverRepeats: one process never gets the same port twice, however
// many it asks for before binding any (2,000 here: a birthday collision in
// 12,000 ports is near certain without the record of given ports).
func TestAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		a, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
	}
}
