package app

import (
	"context"
	"net/url"
	"time"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/rlstore"
	"github.com/sluicelb/sluice/ratelimit"
)

// Rate limits shared through rate_limit_store (contract §9): the store (a
// ratelimit.Store, Redis in package rlstore) and the ratelimit.Syncer that
// reconciles every shared rule with it on a background cycle. l4 and l7 only
// ever see ratelimit.Rules; nothing on the data path waits for Redis.

// storeRT is the running store and its sync loop.
type storeRT struct {
	cfg    config.RateLimitStore
	store  *rlstore.Store
	syncer *ratelimit.Syncer
	cancel context.CancelFunc
	done   chan struct{}
}

// storePlan is the store the next configuration wants: keep the running
// one, start next, or stop it (next == nil and keep == false).
type storePlan struct {
	keep bool
	next *storeRT
}

// sharedLimits reports whether cfg shares its rate limits.
func sharedLimits(cfg *config.Config) bool { return cfg.RateLimitStore != nil }

// ruleID names a frontend's rate_limits rule in the store.
func frontendRuleID(frontend, rule string) string { return "f/" + frontend + "/" + rule }

// backendRuleID names a backend's rate_limit in the store.
func backendRuleID(backend string) string { return "b/" + backend }

// planStore prepares the store of cfg without starting anything; it fails
// only on a URL the Redis client refuses.
func (a *App) planStore(cfg *config.Config) (storePlan, error) {
	st := cfg.RateLimitStore
	if st == nil {
		return storePlan{}, nil
	}
	if a.store != nil && a.store.cfg.Redis == st.Redis && a.store.cfg.Sync == st.Sync && a.store.cfg.Prefix == st.Prefix {
		return storePlan{keep: true}, nil
	}
	s, err := rlstore.New(rlstore.Options{URL: st.Redis, Prefix: st.Prefix, Sync: st.Sync})
	if err != nil {
		return storePlan{}, err
	}
	rt := &storeRT{cfg: *st, store: s}
	met := a.reg.RateLimitStore()
	rt.syncer = ratelimit.NewSyncer(ratelimit.SyncerOptions{
		Store:       s,
		Every:       st.Sync,
		OnError:     func(error) { met.Error() },
		OnFallback:  func(on bool, _ int) { met.SetFallback(on) },
		OnInstances: met.SetInstances,
		Logger:      a.log.With("redis", redactURL(st.Redis), "instance", s.Instance()),
	})
	return storePlan{next: rt}, nil
}

// commitStore makes the plan live and hands every shared rule of the
// running frontends and backends to the syncer. Called with a.mu held,
// after the frontends and backends were committed.
func (a *App) commitStore(p storePlan) {
	if !p.keep {
		if old := a.store; old != nil {
			a.store = nil
			go old.stop()
		}
		if rt := p.next; rt != nil {
			a.store = rt
			ctx, cancel := context.WithCancel(context.Background())
			rt.cancel, rt.done = cancel, make(chan struct{})
			go func() {
				defer close(rt.done)
				rt.syncer.Run(ctx)
			}()
			a.log.Info("rate limits are shared", "redis", redactURL(rt.cfg.Redis), "sync", rt.cfg.Sync.String(), "instance", rt.store.Instance())
		}
	}
	if a.store == nil {
		return
	}
	var rules []*ratelimit.Rule
	for _, f := range a.frontends {
		rules = append(rules, f.guard.Rules()...)
	}
	for _, b := range a.backends {
		if b.rate != nil {
			rules = append(rules, b.rate)
		}
	}
	a.store.syncer.SetRules(rules)
}

// stop ends the sync loop and leaves the live set, so the other instances
// count one fewer at once.
func (rt *storeRT) stop() {
	rt.cancel()
	<-rt.done
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_ = rt.store.Leave(ctx)
	_ = rt.store.Close()
}

// redactURL hides a password in a Redis URL for the log.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return u.Redacted()
		}
	}
	return s
}
