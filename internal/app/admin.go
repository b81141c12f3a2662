package app

import (
	"github.com/sluicelb/sluice/internal/admin"
	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/config"
)

// adminSettings translates the admin block into the admin server's
// reloadable settings (the configuration validated roles and hashes).
func adminSettings(cfg *config.Config) admin.Settings {
	st := admin.Settings{ProtectMetrics: cfg.Admin.ProtectMetrics}
	if cfg.Admin.TLS.Enabled() {
		st.TLSCert, st.TLSKey = cfg.Admin.TLS.Cert, cfg.Admin.TLS.Key
	}
	for _, u := range cfg.Admin.Users {
		role, _ := auth.ParseRole(u.Role)
		st.Users = append(st.Users, auth.UserSpec{Name: u.Name, PasswordHash: u.PasswordHash, Role: role})
	}
	return st
}
