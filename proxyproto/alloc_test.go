//go:build !race

package proxyproto

import "testing"

func TestProxyProtoAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	v1 := AppendV1(nil, src6, dst6)
	v2 := AppendV2(nil, Proxy, src6, dst6)
	if n := testing.AllocsPerRun(200, func() {
		buf = AppendV1(buf[:0], src4, dst4)
		buf = AppendV2(buf[:0], Proxy, src6, dst6)
		if _, _, err := Parse(v1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Parse(v2); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}
