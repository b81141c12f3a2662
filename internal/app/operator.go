package app

import "github.com/sluicelb/sluice/internal/config"

// serverEnabled and serverDrain read a server's operator state from the
// configuration (servers[].enabled, servers[].drain).
//
// TODO(api-core): the keys come with apiedit's internal/config change; until
// it is on main every server is enabled and not drained.
func serverEnabled(*config.Server) bool { return true }
func serverDrain(*config.Server) bool   { return false }
