package config

import (
	"fmt"
	"strings"
)

// Setting is a configuration key that may also be given outside the file,
// by a `sluice run` flag or an environment variable (contract §9): the
// settings that change per deployment. Precedence: flag > environment >
// file > default.
type Setting struct {
	Key  string // the YAML key, e.g. "admin.listen"
	Env  string // the environment variable, e.g. "SLUICE_ADMIN_LISTEN"
	Flag string // the flag without dashes, e.g. "admin-listen"
	Arg  string // the flag's value in help texts, e.g. "ADDR"
	Help string // one line for `sluice run --help`
}

// Settings lists every overridable key, in the order the start-up summary
// and `sluice run --help` show them. (The configuration file itself is
// chosen by -c/--config or SLUICE_CONFIG; cmd/sluice handles that one.)
var Settings = []Setting{
	{Key: "admin.listen", Env: "SLUICE_ADMIN_LISTEN", Flag: "admin-listen", Arg: "ADDR", Help: "the admin listener, host:port (/metrics, /healthz, /readyz)"},
	{Key: "logging.level", Env: "SLUICE_LOG_LEVEL", Flag: "log-level", Arg: "LEVEL", Help: "process log level: error | warn | info | debug | trace"},
	{Key: "logging.format", Env: "SLUICE_LOG_FORMAT", Flag: "log-format", Arg: "FORMAT", Help: "process log format: json | text"},
	{Key: "logging.access_log", Env: "SLUICE_ACCESS_LOG", Flag: "access-log", Arg: "DEST", Help: "access log: stdout | stderr | off | a file path"},
	{Key: "admin.state_dir", Env: "SLUICE_STATE_DIR", Flag: "state-dir", Arg: "DIR", Help: "persistent state directory, an absolute path (empty: nothing persisted)"},
}

// Override replaces the file's value of Key with Value. Source names where
// the value came from ("--log-level", "SLUICE_LOG_LEVEL"): validation
// errors about it name the Source instead of a file position, and
// Config.Source reports it.
type Override struct {
	Key    string
	Value  string
	Source string
}

// Overrides returns the overrides in force: for each Setting, the flag's
// value when flags holds it (keyed by flag name, present only when the
// flag was given), else the environment variable's when lookup finds it
// non-empty (an empty variable counts as unset). Order follows Settings.
func Overrides(flags map[string]string, lookup func(string) (string, bool)) []Override {
	var out []Override
	for _, s := range Settings {
		if v, ok := flags[s.Flag]; ok {
			out = append(out, Override{Key: s.Key, Value: v, Source: "--" + s.Flag})
			continue
		}
		if v, ok := lookup(s.Env); ok && v != "" {
			out = append(out, Override{Key: s.Key, Value: v, Source: s.Env})
		}
	}
	return out
}

// LoadWith is Load with overrides applied after decoding and before
// validation, so that an overridden value is checked like a file value
// (and an error about it names the flag or variable).
func LoadWith(path string, ovs []Override) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseWith(path, data, ovs)
}

// ParseWith is Parse with overrides (see LoadWith).
func ParseWith(name string, data []byte, ovs []Override) (*Config, error) {
	return parseWith(name, data, lookupEnv, ovs)
}

// target returns the field an override of key sets, the meta of the struct
// holding it and the field's key in that struct.
func (c *Config) target(key string) (*string, *meta, string) {
	switch key {
	case "admin.listen":
		return &c.Admin.Listen, &c.Admin.m, "listen"
	case "admin.state_dir":
		return &c.Admin.StateDir, &c.Admin.m, "state_dir"
	case "logging.level":
		return &c.Logging.Level, &c.Logging.m, "level"
	case "logging.format":
		return &c.Logging.Format, &c.Logging.m, "format"
	case "logging.access_log":
		return &c.Logging.AccessLog, &c.Logging.m, "access_log"
	}
	return nil, nil, ""
}

// applyOverrides sets every override's value; an unknown key is reported.
func (c *Config) applyOverrides(ovs []Override, col *collector) {
	for _, o := range ovs {
		field, m, k := c.target(o.Key)
		if field == nil {
			col.addFrom(o.Source, Pos{}, "%s cannot be overridden (known: %s)", o.Key, settingKeys())
			continue
		}
		*field = o.Value
		if m.over == nil {
			m.over = map[string]string{}
		}
		m.over[k] = o.Source
	}
}

func settingKeys() string {
	keys := make([]string, len(Settings))
	for i, s := range Settings {
		keys[i] = s.Key
	}
	return strings.Join(keys, ", ")
}

// Value returns the effective value of an overridable key (see Settings),
// or "" for any other key.
func (c *Config) Value(key string) string {
	if field, _, _ := c.target(key); field != nil {
		return *field
	}
	return ""
}

// Source reports where the effective value of an overridable key came
// from: the flag or environment variable that overrode it, "file" when the
// file sets it, or "default".
func (c *Config) Source(key string) string {
	_, m, k := c.target(key)
	switch {
	case m == nil:
		return ""
	case m.over[k] != "":
		return m.over[k]
	case m.has(k):
		return "file"
	}
	return "default"
}

// describe names a key for messages: "admin.listen", or
// "admin.listen (SLUICE_ADMIN_LISTEN)" when an override set it.
func describe(m *meta, key, path string) string {
	if src := m.over[key]; src != "" {
		return fmt.Sprintf("%s (%s)", join(path, key), src)
	}
	return join(path, key)
}
