package balance

import "strings"

// Why says why a server cannot be picked now; 0 means it can. Several
// reasons may hold at once.
type Why uint16

// Reasons a server is not picked.
const (
	WhyActiveDown  Why = 1 << iota // the active health check holds it out
	WhyPassiveDown                 // ejected by the passive check (failures on real traffic), cooling down
	WhyTrialOut                    // passively half-open and its one trial request is out
	WhyDraining                    // draining: no new connections, its connections finish
	WhyDisabled                    // disabled by the operator
	WhyZeroWeight                  // weight 0: takes no new traffic
	WhyFull                        // at MaxConnsPerServer
	WhyRemoved                     // removed from the configuration by a reload, finishing its connections
	WhyDamped                      // held out by flap damping
)

var whyText = [...]string{"down (active health check)", "down (passive check: failures on real traffic)",
	"half-open: its one trial request is in flight", "draining", "disabled", "weight 0", "at max_connections_per_server",
	"removed from the configuration",
	"damped (held out by flap damping)"}

// String lists the reasons: "down (active health check), draining".
func (w Why) String() string {
	if w == 0 {
		return "eligible"
	}
	var parts []string
	for i, t := range whyText {
		if w&(1<<i) != 0 {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, ", ")
}

// Eligibility is one server's standing for a new connection or request.
type Eligibility struct {
	Server *Server
	Why    Why  // 0: Pick may return it
	Trial  bool // passively half-open with its trial available: only the next Pick may get it
}

// WhyNot returns why s cannot be picked now (0 if it can), read from its
// atomics as Pick reads them.
func (s *Server) WhyNot() (why Why, trial bool) {
	st := s.state.Load()
	if st&stActiveDown != 0 {
		why |= WhyActiveDown
	}
	if st&stPassiveDown != 0 {
		why |= WhyPassiveDown
	}
	if st&stTrial == stTrial {
		why |= WhyTrialOut
	}
	trial = st&stTrial == stHalfOpen
	if st&stDraining != 0 {
		why |= WhyDraining
	}
	if st&stDisabled != 0 {
		why |= WhyDisabled
	}
	if st&stRemoved != 0 {
		why |= WhyRemoved
	}
	if st&stDamped != 0 {
		why |= WhyDamped
	}
	if s.weight.Load() == 0 {
		why |= WhyZeroWeight
	}
	if m := s.maxConns.Load(); m > 0 && s.active.Load() >= m {
		why |= WhyFull
	}
	return why, trial
}

// Explain returns every configured server (in order) with why it could or
// could not be picked now, and the server Pick(key, nil) would return (see
// Peek; nil when none). Nothing moves: it is for the admin API's explain,
// not the data path (it allocates the list).
func (b *Balancer) Explain(key uint64) (pick *Server, servers []Eligibility) {
	st := b.cur.Load()
	servers = make([]Eligibility, len(st.servers))
	for i, s := range st.servers {
		servers[i].Server = s
		servers[i].Why, servers[i].Trial = s.WhyNot()
	}
	if i := st.pick(b, key, nil, true); i >= 0 {
		pick = st.servers[i]
	}
	return pick, servers
}
