// Package audit appends one JSON line per change to the admin state to
// state_dir/audit.log: who (user or API key, role, how authenticated),
// what (the action and its target), when, from where, and the outcome with
// the changes it made (before → after, in operator terms). Logins, failed
// logins, API key creation and revocation are recorded too. Secrets never
// are: no passwords, tokens, keys or configuration text.
//
// The file is opened for each record in append mode (O_APPEND: one write
// per line, so the old and new process of a binary upgrade can both write,
// and logrotate needs no signal) with mode 0600. Every record is also
// written to the process log. Safe for concurrent use.
package audit

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Actions recorded.
const (
	ActionLogin        = "login"
	ActionLoginFailed  = "login_failed"
	ActionLogout       = "logout"
	ActionKeyCreated   = "key_created"
	ActionKeyRevoked   = "key_revoked"
	ActionPatchServer  = "patch_server"
	ActionAddServer    = "add_server"
	ActionRemoveServer = "remove_server"
	ActionPutConfig    = "put_config"
	ActionReload       = "reload"
	ActionAddAlert     = "add_alert"
	ActionSetAlert     = "set_alert"
	ActionRemoveAlert  = "remove_alert"
)

// Outcomes.
const (
	ResultOK      = "ok"      // done
	ResultRefused = "refused" // invalid, conflicting or not allowed: nothing changed
	ResultFailed  = "failed"  // an error on the way: nothing changed
)

// Actor is who did it.
type Actor struct {
	Name   string `json:"name"`             // user or API key name
	KeyID  string `json:"key_id,omitempty"` // when authenticated by API key
	Role   string `json:"role,omitempty"`
	Via    string `json:"via"`    // session | key | login
	Remote string `json:"remote"` // client address
}

// Record is one line of the audit log.
type Record struct {
	Time           time.Time      `json:"ts"`
	Actor          Actor          `json:"actor"`
	Action         string         `json:"action"`
	Target         string         `json:"target,omitempty"`  // e.g. backends/web/servers/10.0.0.1:80, keys/<id>
	Request        map[string]any `json:"request,omitempty"` // the fields asked for (never secrets)
	Result         string         `json:"result"`
	Status         int            `json:"status"` // the HTTP status answered
	Changes        []string       `json:"changes,omitempty"`
	ChecksumBefore string         `json:"config_checksum_before,omitempty"`
	ChecksumAfter  string         `json:"config_checksum_after,omitempty"`
	Persisted      string         `json:"persisted,omitempty"`
	Error          string         `json:"error,omitempty"`
}

// FileName is the audit log's name in state_dir.
const FileName = "audit.log"

// Log writes records. The zero value and a nil *Log discard them.
type Log struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
}

// New returns a log appending to dir/audit.log ("" dir: the process log
// only) and mirroring each record to logger (nil: none).
func New(dir string, logger *slog.Logger) *Log {
	l := &Log{log: logger}
	if dir != "" {
		l.path = filepath.Join(dir, FileName)
	}
	return l
}

// Path is the file written, "" for none.
func (l *Log) Path() string {
	if l == nil {
		return ""
	}
	return l.path
}

// Write appends r (Time filled if zero). A failure to write the file is
// reported to the process log and returned.
func (l *Log) Write(r Record) error {
	if l == nil {
		return nil
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	if l.log != nil {
		l.log.Info("audit", "action", r.Action, "target", r.Target, "actor", r.Actor.Name, "via", r.Actor.Via,
			"role", r.Actor.Role, "remote", r.Actor.Remote, "result", r.Result, "status", r.Status, "changes", r.Changes)
	}
	if l.path == "" {
		return nil
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if l.log != nil {
			l.log.Error("audit record not written", "file", l.path, "error", err.Error())
		}
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
