// Package certs owns Sluice's TLS material: certificate and key files
// loaded and checked (LoadPair, LoadCA), the certificate chosen for a
// ClientHello by its SNI name (Store: exact name, then "*.suffix", else the
// first certificate), the one long-lived *tls.Config of a TLS frontend
// (Server: its GetCertificate reads the current Store through an atomic
// pointer, so a reload swaps certificates without rebinding or touching a
// connection), session ticket keys rotated and kept across reloads and, in
// a state directory, across restarts and binary upgrades (TicketKeys), the
// client side for TLS to backends (ClientConfig), and the one table that
// names why a handshake failed (FailureReason).
//
// It is a leaf: it imports only the standard library. Automatic
// certificates (ACME) plug in through the Source interface.
package certs
