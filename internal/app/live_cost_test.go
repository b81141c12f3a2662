package app

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLiveStreamCost measures what live subscribers cost the data path:
// requests/s and CPU per request (client, proxy and backend in this
// process) with no subscriber and with 10 that take everything (stats,
// events and every log line), alternating runs. It only runs when
// SLUICE_OBS_LOAD=1:
//
//	SLUICE_OBS_LOAD=1 go test -run TestLiveStreamCost -v -count=1 ./internal/app/
func TestLiveStreamCost(t *testing.T) {
	if os.Getenv("SLUICE_OBS_LOAD") == "" {
		t.Skip("set SLUICE_OBS_LOAD=1 to measure the cost of live subscribers")
	}
	const clients, runTime, rounds = 16, 3 * time.Second, 3
	be := obsFastBackend(t)
	web := obsFreeAddr(t)
	a := obsStart(t, lvSimpleYAML(t, obsFreeAddr(t), web, be, ""), Options{})
	obsWaitListening(t, web)
	for round := 0; round < rounds; round++ {
		for _, subs := range []int{0, 10} {
			var got atomic.Int64
			for i := 0; i < subs; i++ {
				s := a.Control().Subscribe(256)
				go func() {
					for range s.C {
						got.Add(1)
					}
				}()
				t.Cleanup(s.Close)
			}
			var total atomic.Int64
			var wg sync.WaitGroup
			cpu0 := obsCPU(t)
			deadline := time.Now().Add(runTime)
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := obsNewClient(web)
					for time.Now().Before(deadline) {
						if err := c.do(); err != nil {
							t.Error(err)
							return
						}
						total.Add(1)
					}
				}()
			}
			wg.Wait()
			cpu := obsCPU(t) - cpu0
			t.Logf("round %d, %2d subscribers: %.0f req/s, %.1f µs CPU/req, %d items delivered",
				round, subs, float64(total.Load())/runTime.Seconds(), float64(cpu.Microseconds())/float64(total.Load()), got.Load())
		}
	}
}
