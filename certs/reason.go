package certs

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// Handshake failure reasons: the "reason" label of
// sluice_tls_handshake_failures_total. One table (FailureReason) decides.
const (
	ReasonTimeout     = "timeout"      // the client did not finish within client_header
	ReasonClosed      = "closed"       // the client closed or reset the connection mid-handshake
	ReasonNotTLS      = "not_tls"      // the first bytes were not a TLS record (plain HTTP to a TLS port)
	ReasonAlert       = "client_alert" // the client refused the handshake (unknown CA, bad certificate…)
	ReasonVersion     = "version"      // no protocol version in common (min_version)
	ReasonCipher      = "cipher"       // no cipher suite, curve or signature scheme in common
	ReasonALPN        = "alpn"         // the client offered only protocols sluice does not speak
	ReasonCertificate = "certificate"  // no certificate for the name (and no default)
	ReasonOther       = "other"
)

// Reasons lists every reason label, for creating the series up front.
var Reasons = []string{ReasonTimeout, ReasonClosed, ReasonNotTLS, ReasonAlert, ReasonVersion,
	ReasonCipher, ReasonALPN, ReasonCertificate, ReasonOther}

// FailureReason names why a server handshake failed. crypto/tls has no
// error types for most of its own refusals, so those are told apart by the
// fixed texts of its messages, here and nowhere else.
func FailureReason(err error) string {
	var rh tls.RecordHeaderError
	var ne net.Error
	var oe *net.OpError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rh):
		return ReasonNotTLS
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return ReasonClosed
	case errors.As(err, &oe) && oe.Op == "remote error":
		return ReasonAlert
	case errors.Is(err, ErrNoCertificate):
		return ReasonCertificate
	}
	msg := err.Error()
	for _, r := range localReasons {
		if strings.Contains(msg, r.text) {
			return r.reason
		}
	}
	return ReasonOther
}

// localReasons are crypto/tls's own handshake refusals (Go 1.26 texts).
var localReasons = []struct{ text, reason string }{
	{"unsupported versions", ReasonVersion},
	{"protocol version", ReasonVersion},
	{"no cipher suite supported", ReasonCipher},
	{"no ECDHE curve", ReasonCipher},
	{"no mutually supported group", ReasonCipher},
	{"no supported signature algorithm", ReasonCipher},
	{"peer doesn't support any of the certificate's signature algorithms", ReasonCipher},
	{"unsupported application protocols", ReasonALPN},
	{"no application protocol", ReasonALPN},
	{"no certificates configured", ReasonCertificate},
	{"first record does not look like a TLS handshake", ReasonNotTLS},
}
