// Package rlstore is the Redis side of shared rate limits (contract §9,
// rate_limit_store): a ratelimit.Store over github.com/redis/go-redis/v9.
// internal/app wires it into a ratelimit.Syncer; l4, l7 and ratelimit never
// link Redis.
//
// Keys (PREFIX is rate_limit_store.prefix):
//   - PREFIX:rl:RULE:KEY — a hash per rule and key (KEY is the key hash in
//     hex): field "t" is the shared GCRA TAT in microseconds of the Redis
//     clock; one field per instance that synced the key, with the time it
//     last did. It expires once the TAT is in the past and no instance has
//     synced it for the activity window.
//   - PREFIX:rl:instances — a sorted set of live instances scored by their
//     last heartbeat (Redis clock, ms), pruned past the TTL.
//
// Both scripts read the time with TIME, so the instances' clocks never need
// to agree. Every command has the deadline of the caller's context, and the
// client neither retries nor waits for a pool slot beyond it: the sync
// cycle must fail fast so that the Syncer can fall back.
package rlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sluicelb/sluice/ratelimit"
)

// syncScript charges ARGV[1] events of ARGV[2] µs each to KEYS[1], from
// no earlier than ARGV[5] µs ago, records instance ARGV[4] as active,
// counts the instances active within ARGV[3] µs and answers {debt µs,
// active}.
var syncScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local iv = tonumber(ARGV[2])
local win = tonumber(ARGV[3])
local id = ARGV[4]
local floor = now - tonumber(ARGV[5])
local tat = tonumber(redis.call('HGET', KEYS[1], 't')) or 0
if tat < floor then tat = floor end
tat = tat + n * iv
local f = redis.call('HGETALL', KEYS[1])
local active = 1
for i = 1, #f, 2 do
  local k = f[i]
  if k ~= 't' and k ~= id then
    if tonumber(f[i + 1]) >= now - win then
      active = active + 1
    else
      redis.call('HDEL', KEYS[1], k)
    end
  end
end
redis.call('HSET', KEYS[1], 't', string.format('%.0f', tat), id, string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat - now + win) / 1000) + 1000)
return {math.floor(tat - now), active}
`)

// beatScript records instance ARGV[1] in the set KEYS[1], drops instances
// silent for ARGV[2] ms and answers how many remain.
var beatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return redis.call('ZCARD', KEYS[1])
`)

// Options configure a Store.
type Options struct {
	// URL is rate_limit_store.redis (redis://, rediss:// or unix://).
	URL string
	// Prefix starts every key; default "sluice".
	Prefix string
	// Sync is the sync interval; the activity window is 3 of them (at
	// least 300ms). Default 100ms.
	Sync time.Duration
	// InstanceTTL: an instance without a heartbeat for this long is no
	// longer counted. Default 3s.
	InstanceTTL time.Duration
	// Instance names this process in the store; default host:pid:random.
	Instance string
}

// Store is a ratelimit.Store on Redis. Methods are safe for concurrent use.
type Store struct {
	c      *redis.Client
	prefix string
	id     string
	winUS  int64
	ttlMS  int64
	setKey string
}

// New parses the URL and returns a Store; it does not connect (the first
// cycle does, and a failure there is a fallback, not a start-up error).
func New(o Options) (*Store, error) {
	opt, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("rate_limit_store.redis: %w", err)
	}
	if o.Prefix == "" {
		o.Prefix = "sluice"
	}
	if o.Sync <= 0 {
		o.Sync = 100 * time.Millisecond
	}
	if o.InstanceTTL <= 0 {
		o.InstanceTTL = 3 * time.Second
	}
	if o.Instance == "" {
		o.Instance = instanceName()
	}
	// Fail fast: the Syncer's context bounds each cycle and a failure
	// means fallback, so there is nothing to gain from retries.
	opt.MaxRetries = -1
	opt.DialTimeout = 500 * time.Millisecond
	opt.ContextTimeoutEnabled = true
	opt.PoolSize = 4
	opt.PoolTimeout = 500 * time.Millisecond
	opt.DisableIdentity = true
	opt.Protocol = 2
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &Store{
		c:      redis.NewClient(opt),
		prefix: o.Prefix,
		id:     o.Instance,
		winUS:  max(3*o.Sync, 300*time.Millisecond).Microseconds(),
		ttlMS:  o.InstanceTTL.Milliseconds(),
		setKey: o.Prefix + ":rl:instances",
	}, nil
}

func instanceName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
}

// Instance returns the name this process has in the store.
func (s *Store) Instance() string { return s.id }

// Key returns the Redis key of a rule and key hash.
func (s *Store) Key(rule string, key uint64) string {
	return s.prefix + ":rl:" + rule + ":" + strconv.FormatUint(key, 16)
}

// Sync implements ratelimit.Store: one script call per item, pipelined in
// one round trip. The scripts are loaded again when Redis lost them (a
// restart).
func (s *Store) Sync(ctx context.Context, items []ratelimit.SyncItem) error {
	err := s.sync(ctx, items)
	if err != nil && isNoScript(err) {
		if err = syncScript.Load(ctx, s.c).Err(); err == nil {
			err = s.sync(ctx, items)
		}
	}
	return err
}

func (s *Store) sync(ctx context.Context, items []ratelimit.SyncItem) error {
	pipe := s.c.Pipeline()
	cmds := make([]*redis.Cmd, len(items))
	for i := range items {
		it := &items[i]
		iv := strconv.FormatFloat(float64(it.Interval)/1e3, 'f', -1, 64)
		cmds[i] = syncScript.EvalSha(ctx, pipe, []string{s.Key(it.Rule, it.Key)}, it.N, iv, s.winUS, s.id, it.Age/1e3)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, c := range cmds {
		v, err := c.Int64Slice()
		if err != nil {
			return err
		}
		if len(v) != 2 {
			return errors.New("rlstore: unexpected script answer")
		}
		items[i].Debt, items[i].Active = v[0]*1e3, int(v[1])
	}
	return nil
}

// Heartbeat implements ratelimit.Store.
func (s *Store) Heartbeat(ctx context.Context) (int, error) {
	n, err := beatScript.Run(ctx, s.c, []string{s.setKey}, s.id, s.ttlMS).Int()
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Leave removes this instance from the live set (graceful stop), so the
// others count one fewer at once.
func (s *Store) Leave(ctx context.Context) error {
	return s.c.ZRem(ctx, s.setKey, s.id).Err()
}

// Close closes the connections.
func (s *Store) Close() error { return s.c.Close() }

func isNoScript(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && len(re.Error()) >= 8 && re.Error()[:8] == "NOSCRIPT"
}

var _ ratelimit.Store = (*Store)(nil)
