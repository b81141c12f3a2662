package app

import "github.com/sluicelb/sluice/internal/config"

// serverEnabled and serverDrain read a server's operator state from the
// configuration (servers[].enabled, servers[].drain): the API writes it
// there, so a reload, --watch or a restart keeps it.
func serverEnabled(s *config.Server) bool { return s.Enabled }
func serverDrain(s *config.Server) bool   { return s.Drain }
