package admin

import (
	"net/http"
	"strconv"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/state"
)

// alertReader returns the running process's alert rules, or answers 404
// (the UI says alerts are not available) when it evaluates none.
func (s *Server) alertReader(w http.ResponseWriter) (state.AlertReader, bool) {
	c, ok := s.control(w)
	if !ok {
		return nil, false
	}
	ar, ok := c.(state.AlertReader)
	if !ok {
		writeError(w, http.StatusNotFound, codeNotFound, "alerts are not available in this build")
		return nil, false
	}
	return ar, true
}

// alerts answers every rule with its state.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	ar, ok := s.alertReader(w)
	if !ok {
		return
	}
	out := ar.Alerts()
	if out == nil {
		out = []state.AlertStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}

// alert answers one rule with its state.
func (s *Server) alert(w http.ResponseWriter, r *http.Request) {
	ar, ok := s.alertReader(w)
	if !ok {
		return
	}
	name := r.PathValue("name")
	for _, a := range ar.Alerts() {
		if a.Name == name {
			writeJSON(w, http.StatusOK, a)
			return
		}
	}
	writeError(w, http.StatusNotFound, codeNotFound, "no alert rule named "+strconv.Quote(name))
}

func alertFields(a *state.AlertRule) map[string]any {
	m := map[string]any{"name": a.Name, "when": a.When, "threshold": a.Threshold}
	if a.Resource != "" {
		m["resource"] = a.Resource
	}
	if a.Scope != (state.AlertScope{}) {
		m["scope"] = a.Scope
	}
	if a.ResolveBelow != "" {
		m["resolve_below"] = a.ResolveBelow
	}
	if a.For != "" {
		m["for"] = a.For
	}
	if len(a.Notify) > 0 {
		m["notify"] = len(a.Notify) // webhook URLs may carry tokens: not in the audit log
	}
	return m
}

// addAlert adds a rule (POST, 201): written to the configuration's alerts
// list through the change path; the configuration validates it.
func (s *Server) addAlert(w http.ResponseWriter, r *http.Request) {
	var body state.AlertRule
	dry, err := s.changeBody(r, &body)
	if err == nil && body.Name == "" {
		err = badBody("name is required")
	}
	if err != nil {
		writeBodyError(w, err)
		return
	}
	s.change(w, r, http.StatusCreated, state.Change{Op: state.OpAddAlert, Alert: &body, DryRun: dry},
		audit.ActionAddAlert, "alerts/"+body.Name, alertFields(&body))
}

// setAlert replaces the rule named in the path (PUT); a name in the body
// must be the same.
func (s *Server) setAlert(w http.ResponseWriter, r *http.Request) {
	var body state.AlertRule
	name := r.PathValue("name")
	dry, err := s.changeBody(r, &body)
	if err == nil && body.Name != "" && body.Name != name {
		err = badBody("the body names alert %q, the path %q: rename by DELETE and POST", body.Name, name)
	}
	if err != nil {
		writeBodyError(w, err)
		return
	}
	body.Name = name
	s.change(w, r, http.StatusOK, state.Change{Op: state.OpSetAlert, Alert: &body, DryRun: dry},
		audit.ActionSetAlert, "alerts/"+name, alertFields(&body))
}

// removeAlert removes the rule named in the path (DELETE).
func (s *Server) removeAlert(w http.ResponseWriter, r *http.Request) {
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
	name := r.PathValue("name")
	s.change(w, r, http.StatusOK, state.Change{Op: state.OpRemoveAlert, Alert: &state.AlertRule{Name: name}, DryRun: dry},
		audit.ActionRemoveAlert, "alerts/"+name, nil)
}
