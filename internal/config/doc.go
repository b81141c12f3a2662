// Package config owns Sluice's configuration file: reading it, expanding
// ${VAR} references from the environment, decoding the YAML strictly,
// filling defaults, validating every key and reporting every problem with
// its position as FILE:LINE:COL.
//
// Lifecycle: Load (or Parse) → [Config.Resolve] → hand the *Config to
// internal/app, which translates it into the option structs of the proxy
// packages. No other package imports config (cmd/sluice too, for validate).
//
// Defaults live in one place (defaults.go) and are repeated in the doc
// comment of each field. A default never invalidates what the user wrote:
// defaults that depend on other keys adapt to the keys given (setDerived),
// so a cross-key rule (timeout not longer than interval, limits only on http
// frontends, ...) can only fail between two written values, and its message
// names both keys and their lines. A leading UTF-8 byte-order mark is
// skipped. Address lists are parsed by acl.ParsePrefix. A *Config returned by Load or Parse is fully
// defaulted and valid; it is immutable by convention once handed over and
// may then be read from any goroutine.
//
// Decoding is done by this package over the go-yaml AST (parser only), not
// by yaml.Unmarshal, so that every unknown key, duplicate key and type
// error in a file is reported at once with its position, not just the first.
package config
