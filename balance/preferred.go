package balance

// PickPreferred is Pick for a request that names the server it wants (a
// sticky-session cookie): it returns pref, acquired as Pick acquires, when
// pref is a server of this Balancer that Pick could return now — healthy
// (or half-open with its trial free), enabled, not draining, weight > 0,
// below MaxConnsPerServer and not in *tried. Otherwise it returns
// Pick(key, tried) and moved is true (also when pref is nil), so the
// caller re-pins the client to the new server. Whatever the algorithm,
// a preferred server that can serve is always kept; the algorithm only
// places clients that have no (usable) preference.
//
// The same rules as Pick apply: Release exactly once, the server is added
// to *tried. Lock-free and allocation-free; finding pref is a scan of at
// most MaxServers pointers of the current Set.
func (b *Balancer) PickPreferred(pref *Server, key uint64, tried *Tried) (s *Server, moved bool) {
	if pref != nil {
		st := b.cur.Load()
		for i, x := range st.servers {
			if x != pref {
				continue
			}
			sl := st.slot[i]
			if st.eligMask[sl>>6]&(1<<(sl&63)) != 0 && (tried == nil || !tried.has(sl)) && pref.acquire(st.maxConns) {
				if tried != nil {
					tried.add(sl)
				}
				if o := pref.owner.Load(); o != nil {
					o.total.Add(1)
				}
				return pref, false
			}
			break
		}
	}
	return b.Pick(key, tried), true
}
