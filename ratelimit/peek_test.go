package ratelimit

import (
	"testing"
	"time"
)

// Peek answers what Allow would, and changes nothing.
func TestPeekMatchesAllow(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		r, err := NewRule(RuleOptions{Name: "r", Rate: 10, Burst: 3, Keyed: keyed, MaxKeys: 14})
		if err != nil {
			t.Fatal(err)
		}
		now := int64(time.Hour)
		for i := 0; i < 200; i++ {
			key := uint64(i % 5)
			pok, pwait := r.Peek(key, now)
			if ok2, w2 := r.Peek(key, now); ok2 != pok || w2 != pwait {
				t.Fatalf("keyed=%v step %d: a second Peek differs", keyed, i)
			}
			ok, wait := r.Allow(key, now)
			if ok != pok || wait != pwait {
				t.Fatalf("keyed=%v step %d: Peek %v %v, Allow %v %v", keyed, i, pok, pwait, ok, wait)
			}
			now += int64(7 * time.Millisecond)
		}
	}
}
