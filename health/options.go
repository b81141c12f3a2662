package health

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// CheckType selects what an active probe does. The zero value is TCP.
type CheckType uint8

const (
	// TCP: the probe succeeds when a TCP connection opens within Timeout.
	TCP CheckType = iota
	// HTTP: the probe sends "GET Path HTTP/1.1" and succeeds when the final
	// status line arrives within Timeout with the expected status.
	HTTP
)

// String returns "tcp" or "http".
func (t CheckType) String() string {
	switch t {
	case TCP:
		return "tcp"
	case HTTP:
		return "http"
	}
	return fmt.Sprintf("CheckType(%d)", uint8(t))
}

// ParseCheckType parses "tcp" or "http" (the config's "none" means no
// Checker at all and is the caller's business).
func ParseCheckType(s string) (CheckType, error) {
	switch s {
	case "tcp":
		return TCP, nil
	case "http":
		return HTTP, nil
	}
	return 0, fmt.Errorf("health: unknown check type %q (want tcp or http)", s)
}

// Defaults applied by [NewChecker] and [Checker.SetOptions] to zero fields.
const (
	DefaultInterval           = 2 * time.Second
	DefaultTimeout            = time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
)

// ActiveOptions configures a [Checker]. Zero values take the documented
// defaults; negative values are errors.
type ActiveOptions struct {
	// Type is TCP (default) or HTTP.
	Type CheckType
	// Path is the HTTP request target; default "/". It must start with "/"
	// and contain no spaces or control characters.
	Path string
	// Host is the HTTP Host header; default each target's Addr(). It must
	// contain no spaces or control characters.
	Host string
	// ExpectStatus are the HTTP statuses that count as healthy: a status
	// in any of the ranges. Empty accepts any 2xx or 3xx (HAProxy's and
	// Traefik's default: a 204 or a redirect is a healthy answer). Each
	// range must lie within 100..599.
	ExpectStatus []StatusRange
	// Interval is the time between the end of one probe and the start of the
	// next, jittered by ±10%; default 2s. The first probe of a target starts
	// at a random offset within one Interval so that checks do not align.
	Interval time.Duration
	// Timeout bounds a whole probe (connect, write, status line); default 1s.
	Timeout time.Duration
	// HealthyThreshold: consecutive successes to bring a down target back;
	// default 2.
	HealthyThreshold int
	// UnhealthyThreshold: consecutive failures to take an up target out;
	// default 3.
	UnhealthyThreshold int
	// StartDown makes targets started by the Checker begin down ("probed
	// first": they come up after HealthyThreshold successes); otherwise they
	// begin up but unconfirmed and go down after UnhealthyThreshold
	// failures. Either way the Checker calls SetActiveUp(!StartDown) when it
	// starts a target, so the target's flag and the state machine agree.
	// Targets kept by Update are not affected. A typical wiring starts with
	// StartDown false and, on reload, calls SetOptions with StartDown true
	// before Update, so servers added by a reload are probed first.
	StartDown bool
	// Logger receives one record per transition: Warn when a target goes
	// down (with the reason of the last failure), Info when it comes back.
	// Nil discards.
	Logger *slog.Logger
	// ProxyHeader, if set, returns the bytes a probe of t sends first, right
	// after connecting (a PROXY protocol header for servers that require
	// one); nil sends nothing. Called once per probe from t's goroutine.
	ProxyHeader func(t Target) []byte
	// TLS, if not nil, makes every probe speak TLS to the target: a tcp
	// check then succeeds once the handshake completes (certificate
	// verified), an http check sends its request over TLS. It is a template:
	// an empty ServerName is replaced by each target's host. Not modified.
	TLS *tls.Config
	// OnTransition, if set, is called once per transition, after
	// SetActiveUp, from the target's checker goroutine. It must not block.
	OnTransition func(t Target, up bool, reason string)
	// OnProbe, if set, is called after every probe with its outcome, from
	// the target's checker goroutine, before the outcome is counted (so
	// before any OnTransition it causes). Probes aborted by Update or Stop
	// are not reported. It must not block.
	OnProbe func(t Target, ok bool, reason string)
}

// Validate reports what NewChecker and Checker.SetOptions would refuse in
// o, without starting anything (a reload checks before it commits).
func (o ActiveOptions) Validate() error {
	_, err := o.normalized()
	return err
}

// normalized validates o and returns a copy with defaults filled in.
func (o ActiveOptions) normalized() (*ActiveOptions, error) {
	var errs []error
	if o.Type != TCP && o.Type != HTTP {
		errs = append(errs, fmt.Errorf("health: unknown check type %v", o.Type))
	}
	if o.Path == "" {
		o.Path = "/"
	}
	if o.Path[0] != '/' || !isToken(o.Path) {
		errs = append(errs, fmt.Errorf("health: path %q must start with \"/\" and contain no spaces or control characters", o.Path))
	}
	if o.Host != "" && !isToken(o.Host) {
		errs = append(errs, fmt.Errorf("health: host %q must contain no spaces or control characters", o.Host))
	}
	for _, r := range o.ExpectStatus {
		if r.Lo < 100 || r.Hi > 599 || r.Lo > r.Hi {
			errs = append(errs, fmt.Errorf("health: expect_status %d-%d is not a range of HTTP statuses (100..599)", r.Lo, r.Hi))
		}
	}
	o.ExpectStatus = append([]StatusRange(nil), o.ExpectStatus...) // not the caller's
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"interval", &o.Interval, DefaultInterval}, {"timeout", &o.Timeout, DefaultTimeout}} {
		if *d.v < 0 {
			errs = append(errs, fmt.Errorf("health: %s %v is negative", d.name, *d.v))
		} else if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, t := range []struct {
		name string
		v    *int
		def  int
	}{{"healthy_threshold", &o.HealthyThreshold, DefaultHealthyThreshold}, {"unhealthy_threshold", &o.UnhealthyThreshold, DefaultUnhealthyThreshold}} {
		if *t.v < 0 {
			errs = append(errs, fmt.Errorf("health: %s %d is negative", t.name, *t.v))
		} else if *t.v == 0 {
			*t.v = t.def
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &o, nil
}

// isToken reports whether s has no spaces, control characters or DEL, so
// that it cannot break the request line or inject headers.
func isToken(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// StatusRange is an inclusive range of HTTP statuses: {204, 204} is one
// code, {200, 299} the class 2xx.
type StatusRange struct{ Lo, Hi int }

// statusOK reports whether code counts as healthy under o.
func (o *ActiveOptions) statusOK(code int) bool {
	if len(o.ExpectStatus) == 0 {
		return code >= 200 && code < 400
	}
	for _, r := range o.ExpectStatus {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}
