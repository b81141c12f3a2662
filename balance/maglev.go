package balance

import "github.com/cespare/xxhash/v2"

// maglev is a Maglev lookup table (Eisenbud et al., NSDI 2016, §3.4): m
// entries, each the index of a server. Every server owns about
// m × weight/Σweight entries scattered by its own permutation of the slots,
// so adding or removing one server of N moves about 1/N of the keys.
type maglev struct {
	table []uint8 // server indices
	m     uint64  // len(table), prime
}

// maglevPrimes are the table sizes: the smallest one ≥ 100 × Σ(weight/gcd)
// is used (the paper's guidance), else the largest.
var maglevPrimes = [...]uint64{65537, 655373}

type magEntry struct {
	s *Server
	w int32
}

// maglevLocked returns the Maglev table for the current servers and weights,
// reusing the previous one when neither changed (health changes do not
// rebuild it: that is what makes failover move only the failed server's keys).
func (b *Balancer) maglevLocked() *maglev {
	same := len(b.magKey) == len(b.servers)
	for i, s := range b.servers {
		if !same {
			break
		}
		same = b.magKey[i] == magEntry{s, s.weight.Load()}
	}
	if same && b.magKey != nil {
		return b.mag
	}
	key := make([]magEntry, len(b.servers))
	names := make([]string, len(b.servers))
	weights := make([]int64, len(b.servers))
	for i, s := range b.servers {
		key[i] = magEntry{s, s.weight.Load()}
		names[i] = s.addr
		weights[i] = int64(key[i].w)
	}
	b.mag, b.magKey = buildMaglev(names, weights), key
	return b.mag
}

// buildMaglev fills a table over names with weights (0 = no entries). Each
// server i has offset = h1(name) mod M and skip = h2(name) mod (M−1) + 1,
// and its permutation is (offset + j×skip) mod M. Round after round, server i
// takes weights[i]/gcd turns, each claiming the next free slot of its
// permutation, until all M slots are owned. Servers are identified by name
// (their address), so the table does not depend on list order. Returns nil
// when every weight is 0.
func buildMaglev(names []string, weights []int64) *maglev {
	var g, total int64
	for _, w := range weights {
		if w > 0 {
			g = gcd(g, w)
		}
	}
	if g == 0 {
		return nil
	}
	turns := make([]int64, len(weights))
	for i, w := range weights {
		if w > 0 {
			turns[i] = w / g
			total += turns[i]
		}
	}
	m := maglevPrimes[len(maglevPrimes)-1]
	for _, p := range maglevPrimes {
		if p >= 100*uint64(total) {
			m = p
			break
		}
	}
	offset := make([]uint64, len(names))
	skip := make([]uint64, len(names))
	next := make([]uint64, len(names))
	for i, name := range names {
		offset[i] = seeded(1, name) % m
		skip[i] = seeded(2, name)%(m-1) + 1
	}
	table := make([]uint8, m)
	taken := make([]uint64, (m+63)/64)
	var filled uint64
	for filled < m {
		for i := range names {
			for t := int64(0); t < turns[i] && filled < m; t++ {
				c := (offset[i] + next[i]*skip[i]) % m
				for taken[c>>6]&(1<<(c&63)) != 0 {
					next[i]++
					c = (offset[i] + next[i]*skip[i]) % m
				}
				taken[c>>6] |= 1 << (c & 63)
				table[c] = uint8(i)
				next[i]++
				filled++
			}
		}
	}
	return &maglev{table: table, m: m}
}

func seeded(seed uint64, s string) uint64 {
	d := xxhash.NewWithSeed(seed)
	_, _ = d.WriteString(s)
	return d.Sum64()
}
