package rlstore

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sluicelb/sluice/internal/rlstore/rlstoretest"
	"github.com/sluicelb/sluice/ratelimit"
)

func newStore(t *testing.T, url, id string) *Store {
	t.Helper()
	s, err := New(Options{URL: url, Prefix: "t", Sync: 100 * time.Millisecond, Instance: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The scripts against a real Redis: charges add up across instances, the
// debt is relative to Redis's clock, instances are counted per key and
// live, lost scripts are loaded again, and an unreachable Redis fails fast.
func TestRedisStoreScripts(t *testing.T) {
	r := rlstoretest.StartRedis(t)
	ctx := context.Background()
	a, b := newStore(t, r.URL(), "a"), newStore(t, r.URL(), "b")
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	// The debt is measured on Redis's clock, so the time that passes
	// between the two instances' scripts is read from Redis too: TIME
	// before the first and after the second bound it from above.
	redisNow := func() time.Time {
		now, err := c.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return now
	}
	iv := int64(10 * time.Millisecond) // 100/s
	items := []ratelimit.SyncItem{{Rule: "f/web/r", Key: 0xabc, N: 50, Interval: iv}}
	before := redisNow()
	if err := a.Sync(ctx, items); err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(items[0].Debt); d != 500*time.Millisecond || items[0].Active != 1 {
		t.Fatalf("after 50 events of 10ms: debt %v active %d, want 500ms and 1", d, items[0].Active)
	}
	items2 := []ratelimit.SyncItem{{Rule: "f/web/r", Key: 0xabc, N: 20, Interval: iv}, {Rule: "f/web/r", Key: 0xdef, N: 0, Interval: iv}}
	if err := b.Sync(ctx, items2); err != nil {
		t.Fatal(err)
	}
	// 500ms + 20 × 10ms, less what Redis's clock advanced in between.
	passed := redisNow().Sub(before)
	if d := time.Duration(items2[0].Debt); d < 700*time.Millisecond-passed || d > 700*time.Millisecond || items2[0].Active != 2 {
		t.Fatalf("second instance: debt %v active %d, want 700ms less at most %v (Redis time between the scripts) and 2", d, items2[0].Active, passed)
	}
	if items2[1].Debt != 0 || items2[1].Active != 1 {
		t.Fatalf("an idle key: %+v", items2[1])
	}
	if ttl := c.PTTL(ctx, a.Key("f/web/r", 0xabc)).Val(); ttl <= 0 || ttl > 3*time.Second {
		t.Errorf("key TTL %v", ttl)
	}
	if n, err := a.Heartbeat(ctx); err != nil || n != 1 {
		t.Fatalf("heartbeat a: %d %v", n, err)
	}
	if n, err := b.Heartbeat(ctx); err != nil || n != 2 {
		t.Fatalf("heartbeat b: %d %v", n, err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.Heartbeat(ctx); n != 1 {
		t.Fatalf("after b left: %d instances", n)
	}
	c.ScriptFlush(ctx)
	if err := a.Sync(ctx, items); err != nil {
		t.Fatalf("after SCRIPT FLUSH: %v", err)
	}
	r.Stop()
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	if err := a.Sync(cctx, items); err == nil {
		t.Fatal("Sync with Redis stopped succeeded")
	}
	if _, err := a.Heartbeat(cctx); err == nil {
		t.Fatal("Heartbeat with Redis stopped succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("failing took %v", d)
	}
	r.Start()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := a.Heartbeat(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after Redis restarted: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.Sync(ctx, items); err != nil || items[0].Active != 1 {
		t.Fatalf("after a restart (empty Redis, scripts lost): %v %+v", err, items[0])
	}
}

// A Syncer over two Redis-backed instances keeps one limit.
func TestRedisSyncerTwoInstances(t *testing.T) {
	r := rlstoretest.StartRedis(t)
	var rules [2]*ratelimit.Rule
	var syncers [2]*ratelimit.Syncer
	for i := range 2 {
		rules[i], _ = ratelimit.NewRule(ratelimit.RuleOptions{Name: "r", Rate: 100, Burst: 10, Shared: true, ID: "x"})
		syncers[i] = ratelimit.NewSyncer(ratelimit.SyncerOptions{Store: newStore(t, r.URL(), string(rune('a'+i)))})
		syncers[i].SetRules([]*ratelimit.Rule{rules[i]})
	}
	ctx := context.Background()
	admitted := 0
	end := time.Now().Add(2 * time.Second)
	next := time.Now()
	for time.Now().Before(end) {
		for i := range 2 {
			for range 5 {
				if ok, _ := rules[i].Allow(0, ratelimit.Now()); ok {
					admitted++
				}
			}
		}
		if time.Now().After(next) {
			syncers[0].Cycle(ctx)
			syncers[1].Cycle(ctx)
			next = next.Add(100 * time.Millisecond)
		}
		time.Sleep(time.Millisecond)
	}
	// 100/s over 2s plus a burst of 10, and the bound's slack for the
	// other instance (burst + one sync of rate).
	if admitted < 180 || admitted > 210+20 {
		t.Fatalf("two instances admitted %d in 2s of a 100/s limit", admitted)
	}
	t.Logf("two instances admitted %d in 2s (limit 100/s, burst 10)", admitted)
}
