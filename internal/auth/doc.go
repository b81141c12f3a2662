// Package auth holds the credentials of the admin API (contract §8): roles,
// users with bcrypt password hashes (admin.users), login sessions and API
// keys. The admin HTTP server and, later, the gRPC control service check
// requests with it; it knows nothing about HTTP.
//
// Secrets are never kept in the clear: passwords are bcrypt hashes from the
// configuration, session tokens and API keys are 32 random bytes whose
// SHA-256 is all that is stored (in memory and in state_dir), and every
// comparison of a secret runs in constant time. Sessions and keys persist
// in state_dir so that they survive a restart or a binary upgrade; two
// processes sharing one state_dir (the old and new process of an upgrade)
// see each other's logins, logouts, new keys and revocations.
//
// The package is a leaf: standard library and golang.org/x/crypto only.
package auth
