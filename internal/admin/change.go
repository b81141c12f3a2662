package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/state"
)

// changeTimeout bounds one change (parse, resolve, apply, write back); the
// client going away does not cancel it half-way.
const changeTimeout = time.Minute

// serverPatch is the body of PATCH …/servers/{address}.
type serverPatch struct {
	Weight  *int  `json:"weight"`
	Enabled *bool `json:"enabled"`
	Drain   *bool `json:"drain"`
}

// serverAdd is the body of POST …/servers: an address and the fields of
// a patch.
type serverAdd struct {
	Address string `json:"address"`
	serverPatch
}

func (p *serverPatch) check() error {
	if p.Weight == nil && p.Enabled == nil && p.Drain == nil {
		return badBody("nothing to change: give at least one of \"weight\", \"enabled\", \"drain\"")
	}
	return checkWeight(p.Weight)
}

func (a *serverAdd) check() error {
	if strings.TrimSpace(a.Address) == "" {
		return badBody("field \"address\" is required (host:port)")
	}
	return checkWeight(a.Weight)
}

func checkWeight(w *int) error {
	if w != nil && *w < 0 {
		return badBody("field \"weight\" must not be negative, got %d", *w)
	}
	return nil
}

func (p *serverPatch) fields() map[string]any {
	m := map[string]any{}
	if p.Weight != nil {
		m["weight"] = *p.Weight
	}
	if p.Enabled != nil {
		m["enabled"] = *p.Enabled
	}
	if p.Drain != nil {
		m["drain"] = *p.Drain
	}
	return m
}

func (s *Server) addServer(w http.ResponseWriter, r *http.Request) {
	var body serverAdd
	dry, ok := s.serverBody(w, r, &body, body.check)
	if !ok {
		return
	}
	name, req := r.PathValue("name"), body.fields()
	req["address"] = body.Address
	s.change(w, r, http.StatusCreated, state.Change{Op: state.OpAddServer, Backend: name, Address: body.Address, DryRun: dry,
		Server: state.ServerSpec{Address: body.Address, Weight: body.Weight, Enabled: body.Enabled, Drain: body.Drain}},
		audit.ActionAddServer, "backends/"+name+"/servers", req)
}

func (s *Server) patchServer(w http.ResponseWriter, r *http.Request) {
	var body serverPatch
	dry, ok := s.serverBody(w, r, &body, body.check)
	if !ok {
		return
	}
	name, addr := r.PathValue("name"), r.PathValue("address")
	s.change(w, r, http.StatusOK, state.Change{Op: state.OpPatchServer, Backend: name, Address: addr, DryRun: dry,
		Server: state.ServerSpec{Weight: body.Weight, Enabled: body.Enabled, Drain: body.Drain}},
		audit.ActionPatchServer, "backends/"+name+"/servers/"+addr, body.fields())
}

// serverBody reads ?dry_run and a server body into v and checks it; on
// failure it has answered 400.
func (s *Server) serverBody(w http.ResponseWriter, r *http.Request, v any, check func() error) (dry, ok bool) {
	dry, err := s.changeBody(r, v)
	if err == nil {
		err = check()
	}
	if err != nil {
		writeBodyError(w, err)
		return false, false
	}
	return dry, true
}

func (s *Server) removeServer(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "dry_run")
	var dry bool
	if err == nil {
		dry, err = boolParam(q, "dry_run")
	}
	if err == nil {
		err = emptyBody(r)
	}
	if err != nil {
		writeBodyError(w, err)
		return
	}
	name, addr := r.PathValue("name"), r.PathValue("address")
	s.change(w, r, http.StatusOK, state.Change{Op: state.OpRemoveServer, Backend: name, Address: addr, DryRun: dry},
		audit.ActionRemoveServer, "backends/"+name+"/servers/"+addr, nil)
}

// changeBody reads ?dry_run and a strict JSON body into v.
func (s *Server) changeBody(r *http.Request, v any) (bool, error) {
	q, err := query(r, "dry_run")
	if err != nil {
		return false, err
	}
	dry, err := boolParam(q, "dry_run")
	if err != nil {
		return false, err
	}
	return dry, decodeJSON(r, v)
}

// emptyBody refuses a body where none is expected.
func emptyBody(r *http.Request) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		return badBody("this request takes no body")
	}
	return nil
}

// putConfig replaces the whole configuration text (the body, YAML) as a
// reload would, or only validates and diffs it with ?dry_run=true. With
// If-Match (the ETag of GET /api/v1/config) it is refused with 412 when the
// running configuration changed meanwhile.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "dry_run")
	var dry bool
	if err == nil {
		dry, err = boolParam(q, "dry_run")
	}
	var text []byte
	if err == nil {
		text, err = readBody(r)
	}
	if err == nil && len(strings.TrimSpace(string(text))) == 0 {
		err = badBody("the request body is empty: send the configuration (YAML)")
	}
	if err != nil {
		writeBodyError(w, err)
		return
	}
	c, ok := s.control(w)
	if !ok {
		return
	}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" {
		if cur := c.Snapshot().Checksum; strings.Trim(im, `"`) != cur {
			writeError(w, http.StatusPreconditionFailed, codePrecondition,
				"the running configuration changed (its checksum is now "+cur+"): GET it again and re-apply your edit")
			return
		}
	}
	s.change(w, r, http.StatusOK, state.Change{Op: state.OpPutConfig, Text: text, DryRun: dry},
		audit.ActionPutConfig, "config", map[string]any{"bytes": len(text)})
}

// validateConfig validates a configuration text (the body) without
// applying anything: 200 {"valid": true}, or 422 with every error.
func (s *Server) validateConfig(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	text, err := readBody(r)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	c, ok := s.control(w)
	if !ok {
		return
	}
	if errs := c.Validate(text); len(errs) > 0 {
		writeInvalid(w, errs)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": true})
}

// reload re-reads the configuration file, as SIGHUP does.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	if err := emptyBody(r); err != nil {
		writeBodyError(w, err)
		return
	}
	s.change(w, r, http.StatusOK, state.Change{Op: state.OpReload}, audit.ActionReload, "config", nil)
}

// change runs c through Control.Change, answers, and audits every attempt
// that is not a dry run: who, what, when, from where, before → after.
func (s *Server) change(w http.ResponseWriter, r *http.Request, okStatus int, c state.Change, action, target string, req map[string]any) {
	ctl, ok := s.control(w)
	if !ok {
		return
	}
	if s.stopping.Load() {
		writeError(w, http.StatusServiceUnavailable, codeShuttingDown, "sluice is shutting down: no changes are taken")
		return
	}
	id := identityOf(r)
	c.Actor = state.Actor{Name: id.Name, Role: id.Role.String(), Via: id.Via, Remote: remoteAddr(r)}
	before := ctl.Snapshot().Checksum
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), changeTimeout)
	defer cancel()
	res, err := ctl.Change(ctx, c)
	status := okStatus
	if err != nil {
		status = s.changeError(w, err)
	} else {
		if c.DryRun {
			status = http.StatusOK
		}
		if res.Changes == nil {
			res.Changes = []string{}
		}
		writeJSON(w, status, res)
	}
	if c.DryRun {
		return
	}
	rec := audit.Record{Actor: actorOf(r), Action: action, Target: target, Request: req, Status: status,
		ChecksumBefore: before, Result: audit.ResultOK}
	if err != nil {
		rec.Result, rec.Error = audit.ResultRefused, err.Error()
		if status >= 500 {
			rec.Result = audit.ResultFailed
		}
	} else {
		rec.Changes, rec.ChecksumAfter, rec.Persisted = res.Changes, res.Checksum, res.Persisted
	}
	s.audit.Write(rec)
}

// changeError answers an error of Control.Change or Explain and returns
// the status: 404 not found, 409 conflict or read-only, 422 invalid, 503
// shutting down, 500 otherwise.
func (s *Server) changeError(w http.ResponseWriter, err error) int {
	var inv *state.InvalidError
	switch {
	case errors.As(err, &inv):
		writeInvalid(w, inv.Errors)
		return http.StatusUnprocessableEntity
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, err.Error())
		return http.StatusNotFound
	case errors.Is(err, state.ErrConflict):
		writeError(w, http.StatusConflict, codeConflict, err.Error())
		return http.StatusConflict
	case errors.Is(err, state.ErrReadOnly):
		writeError(w, http.StatusConflict, codeReadOnly, err.Error())
		return http.StatusConflict
	case errors.Is(err, state.ErrShuttingDown):
		writeError(w, http.StatusServiceUnavailable, codeShuttingDown, "sluice is shutting down: no changes are taken")
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, codeInternal, "the change did not finish within "+changeTimeout.String())
		return http.StatusGatewayTimeout
	}
	s.log.Error("admin API change failed", "error", err.Error())
	writeError(w, http.StatusInternalServerError, codeInternal, err.Error())
	return http.StatusInternalServerError
}
