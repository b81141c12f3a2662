package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/auth"
)

// keyRequest is the body of POST /api/v1/keys.
type keyRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Expires string `json:"expires"` // a Go duration ("720h"); empty: until revoked
}

// check validates the body, naming the field.
func (k *keyRequest) check() (auth.Role, time.Duration, error) {
	if err := auth.CheckKeyName(k.Name); err != nil {
		return 0, 0, badBody("field \"name\": %v", err)
	}
	if k.Role == "" {
		return 0, 0, badBody("field \"role\" is required: viewer, operator or admin")
	}
	role, err := auth.ParseRole(k.Role)
	if err != nil {
		return 0, 0, badBody("field \"role\": %v", err)
	}
	var ttl time.Duration
	if k.Expires != "" {
		ttl, err = time.ParseDuration(k.Expires)
		if err != nil || ttl < time.Minute {
			return 0, 0, badBody("field \"expires\": want a duration of at least 1m like \"720h\", got %q", k.Expires)
		}
	}
	return role, ttl, nil
}

type keyView struct {
	auth.KeyInfo
	Expired bool `json:"expired"`
}

type newKeyView struct {
	auth.KeyInfo
	Key string `json:"key"` // shown this once
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	list, err := s.keys.List()
	if err != nil {
		s.changeError(w, err)
		return
	}
	now := s.opts.Now()
	out := make([]keyView, 0, len(list))
	for _, k := range list {
		out = append(out, keyView{KeyInfo: k, Expired: k.Expired(now)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	var req keyRequest
	if err := decodeJSON(r, &req); err != nil {
		writeBodyError(w, err)
		return
	}
	role, ttl, err := req.check()
	if err != nil {
		writeBodyError(w, err)
		return
	}
	actor := actorOf(r)
	rec := audit.Record{Actor: actor, Action: audit.ActionKeyCreated, Request: map[string]any{"name": req.Name, "role": req.Role, "expires": req.Expires}}
	tok, info, err := s.keys.Create(req.Name, role, ttl, actor.Name)
	if err != nil {
		status, code := http.StatusInternalServerError, codeInternal
		switch {
		case errors.Is(err, auth.ErrNoStateDir), errors.Is(err, auth.ErrTooManyKeys):
			status, code = http.StatusConflict, codeConflict
		}
		rec.Result, rec.Status, rec.Error = audit.ResultRefused, status, err.Error()
		s.audit.Write(rec)
		writeError(w, status, code, err.Error())
		return
	}
	rec.Target, rec.Result, rec.Status = "keys/"+info.ID, audit.ResultOK, http.StatusCreated
	s.audit.Write(rec)
	writeJSON(w, http.StatusCreated, newKeyView{KeyInfo: info, Key: tok})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	id := r.PathValue("id")
	rec := audit.Record{Actor: actorOf(r), Action: audit.ActionKeyRevoked, Target: "keys/" + id}
	info, err := s.keys.Revoke(id)
	if err != nil {
		status, code := http.StatusInternalServerError, codeInternal
		switch {
		case errors.Is(err, auth.ErrKeyNotFound):
			status, code = http.StatusNotFound, codeNotFound
		case errors.Is(err, auth.ErrNoStateDir):
			status, code = http.StatusNotFound, codeNotFound
		}
		rec.Result, rec.Status, rec.Error = audit.ResultRefused, status, err.Error()
		s.audit.Write(rec)
		writeError(w, status, code, "API key "+id+": "+err.Error())
		return
	}
	rec.Result, rec.Status = audit.ResultOK, http.StatusOK
	rec.Request = map[string]any{"name": info.Name, "role": info.Role.String()}
	s.audit.Write(rec)
	writeJSON(w, http.StatusOK, map[string]any{"id": info.ID, "name": info.Name, "role": info.Role, "revoked": true})
}
