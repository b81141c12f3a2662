package balance

import "fmt"

// Algorithm selects how a [Balancer] spreads new connections or requests over
// its servers. The zero value is [RoundRobin].
type Algorithm uint8

const (
	// RoundRobin hands servers out in strict cyclic order; weights other than
	// 0 are ignored.
	RoundRobin Algorithm = iota
	// WeightedRoundRobin hands servers out in proportion to their weights
	// using nginx's smooth weighted round-robin schedule.
	WeightedRoundRobin
	// LeastConnections picks the server with the fewest active connections,
	// breaking ties round-robin; weights other than 0 are ignored.
	LeastConnections
	// IPHash maps a key (usually [KeyIP] of the client) to a server through a
	// weighted Maglev consistent-hashing table.
	IPHash
)

// algorithmNames are the user-facing names of the contract (config key
// "algorithm"), indexed by Algorithm.
var algorithmNames = [...]string{
	RoundRobin:         "round_robin",
	WeightedRoundRobin: "weighted_round_robin",
	LeastConnections:   "least_connections",
	IPHash:             "ip_hash",
}

// ParseAlgorithm returns the Algorithm named s: "round_robin",
// "weighted_round_robin", "least_connections" or "ip_hash" (exact,
// case-sensitive). Any other input gives an error naming the value and the
// accepted names.
func ParseAlgorithm(s string) (Algorithm, error) {
	for a, name := range algorithmNames {
		if s == name {
			return Algorithm(a), nil
		}
	}
	return 0, fmt.Errorf("balance: unknown algorithm %q (want round_robin, weighted_round_robin, least_connections or ip_hash)", s)
}

// String returns the contract name of a ("round_robin", ...), or
// "algorithm(N)" for a value outside the defined set.
func (a Algorithm) String() string {
	if int(a) < len(algorithmNames) {
		return algorithmNames[a]
	}
	return fmt.Sprintf("algorithm(%d)", uint8(a))
}

// valid reports whether a is one of the four defined algorithms.
func (a Algorithm) valid() bool { return int(a) < len(algorithmNames) }
