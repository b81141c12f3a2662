// Package config owns Sluice's configuration file: reading it, expanding
// ${VAR} references from the environment, decoding the YAML strictly,
// filling defaults, validating every key and reporting every problem with
// its position as FILE:LINE:COL.
//
// Lifecycle: Load (or Parse) → [Config.Resolve] → hand the *Config to
// internal/app, which translates it into the option structs of the proxy
// packages. No other package imports config.
//
// Defaults live in one place (defaults.go) and are repeated in the doc
// comment of each field. A *Config returned by Load or Parse is fully
// defaulted and valid; it is immutable by convention once handed over and
// may then be read from any goroutine.
//
// Decoding is done by this package over the go-yaml AST (parser only), not
// by yaml.Unmarshal, so that every unknown key, duplicate key and type
// error in a file is reported at once with its position, not just the first.
package config
