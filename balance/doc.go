// Package balance owns Sluice's server selection: the per-server state
// ([Server]: health flags, draining, enabled, weight, active count, all
// atomics) and the four balancing algorithms behind [Balancer.Pick]. It does
// no I/O and imports nothing of Sluice's; l4 and l7 call Pick on their data
// path, health flips the flags through SetActiveUp/SetPassiveUp, and
// internal/app builds Balancers and feeds reloads to [Balancer.Update].
//
// # Concurrency model: build heavy, pick light
//
// A [Balancer] publishes an immutable snapshot (the Set) through one
// atomic.Pointer. Everything expensive — which servers are eligible, the
// smooth weighted schedule, the Maglev table, slow-start weights,
// bounded-load caps — is computed when something changes (New, Update, a
// server state change, a slow-start Tick) and swapped in with a single store.
// Pick loads the pointer, does one atomic add on a shared cursor and a table
// lookup, and increments the chosen server's count with an atomic add (a CAS
// when MaxConnsPerServer is set, so the cap is never overshot). Pick never
// locks or allocates, also under parallel load (see the benchmarks). Servers
// that became unavailable since the Set was built, or sit at
// MaxConnsPerServer, are passed over with a bounded probe: at most one
// attempt per server, then nil. A server state change rebuilds the Set
// immediately but never waits for a lock (see [Balancer]).
//
// # Algorithms
//
// round_robin: strict cyclic order over the eligible servers.
//
// weighted_round_robin: nginx's smooth weighted round robin (nginx commit
// 52327e0 "Upstream: smooth weighted round-robin balancing", 2012,
// ngx_http_upstream_round_robin.c). Each step adds every server's weight to
// its current value, picks the largest and subtracts the total from it; the
// picks are spread evenly instead of in bursts (weights 5,1,1 give
// a a b a c a a, never five a's in a row). One period (Σ weights entries) is
// precomputed into a table at build time, and Pick indexes it with the cursor.
//
// least_connections: the eligible server with the fewest Active(). The scan
// starts at the server the round-robin cursor names and keeps the first
// minimum, so equal servers share the load in turn (nginx least_conn). With
// slow start the comparison is Active()/effective weight.
//
// ip_hash: consistent hashing of a key ([KeyIP]: xxhash of the client
// address) through a Maglev lookup table (Eisenbud et al., "Maglev: A Fast
// and Reliable Software Network Load Balancer", NSDI 2016, §3.4). The table
// has M entries (M prime: 65537, or 655373 when Σ weights > 655), each owned
// by a server; a heavier server gets proportionally more turns while the
// table is filled, so more entries. Adding or removing one of N servers moves
// about 1/N of the keys. The table is built over ALL configured servers, not
// just the healthy ones, and is rebuilt only when the server list or a weight
// changes: a key probes its own sequence of slots (h + k×step) mod M and takes
// the first available server, so when a server fails only its keys move, and
// they return when it recovers. Optional bounded loads (Mirrokni, Thorup,
// Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018,
// arXiv:1608.01350): with Options.HashBalanceFactor c > 1 a server is passed
// over for a key while Active()+1 > ceil(c × (total+1) × w/Σw) (equal weights:
// ceil(c × average)), so hot keys spill to their next candidates instead of
// overloading one server; total is an atomic kept by Pick and Release, so the
// check is O(1).
//
// # Weights, availability, slow start
//
// Weights are 0..256. weighted_round_robin and ip_hash share traffic in
// proportion to them; round_robin and least_connections ignore them, except
// that weight 0 means "take no new traffic" under every algorithm (HAProxy's
// semantics): the server keeps its connections but is never picked.
//
// A server is picked only if it is healthy (active and passive flags up),
// enabled, not draining, has weight > 0 and is below MaxConnsPerServer.
//
// Passive half-open (circuit breaker): after a passive ejection's cooldown,
// health.Passive calls [Server.SetPassiveHalfOpen]. A half-open server that
// is otherwise serving stays in the Set, but exactly one Pick returns it —
// the trial — whatever the algorithm and however many goroutines pick at
// once (one CAS on the server's state word hands the trial out); every other
// Pick passes it over like a down server. The caller reports the trial's
// outcome to health.Passive (Success or Failure), which calls
// SetPassiveUp(true) (serving again; slow start, if on, ramps from here) or
// SetPassiveUp(false) (ejected for another cooldown). [Server.RearmTrial]
// hands out a new trial when an outcome never came. The trial check is part
// of the same atomic acquire every pick does: still lock-free and
// allocation-free.
//
// Draining: a draining server gets no new picks. Two owners drain a server,
// each with its own state bit: the operator ([Server.SetDraining],
// [Server.SetEnabled]) and a reload that removed it ([Server.SetRemoved], on
// top of Update dropping it from the list); clearing one never clears the
// // other, so an undrain cannot bring back a removed server. A draining
// server's existing connections keep counting in Active() and in the
// Balancer's Active() until their callers Release them, so Active() falls to
// 0 as they finish.
//
// Slow start (Options.SlowStart, like HAProxy's slowstart and nginx's
// slow_start): a server that becomes available again (recovered, re-enabled,
// undrained, weight raised from 0) or that Update adds starts at 1/10 of its
// weight and ramps linearly to the full weight over SlowStart. The owner calls
// [Balancer.Tick] periodically; Tick rebuilds the Set only while a ramp is in
// progress, and the ramp starts at the first Tick after the server became
// available (time is always an argument; the package never reads the clock).
// round_robin and weighted_round_robin use the ramped weights in the schedule
// (round_robin as a weighted schedule with base weight 1); least_connections
// compares Active()/ramped weight and breaks ties with the same weighted
// schedule; ip_hash does not ramp.
//
// # Retries
//
// [Tried] is a 256-bit mask carried by one request across its attempts: Pick
// adds the server it returns, and never returns a server already in it. A
// Balancer serves at most [MaxServers] = 256 servers for that reason.
package balance
