package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluicelb/sluice/internal/state"
)

// Request body limits.
const (
	DefaultMaxBody = 1 << 20 // JSON bodies
	MaxConfigBody  = 8 << 20 // PUT /api/v1/config, POST /api/v1/config/validate
)

// Error codes of {"error": {"code": ...}}.
const (
	codeBadRequest    = "bad_request"
	codeUnauthorized  = "unauthorized"
	codeKeyExpired    = "key_expired"
	codeForbidden     = "forbidden"
	codeCSRF          = "csrf_token_required"
	codeNotFound      = "not_found"
	codeMethod        = "method_not_allowed"
	codeConflict      = "conflict"
	codeReadOnly      = "read_only"
	codePrecondition  = "precondition_failed"
	codeTooLarge      = "body_too_large"
	codeInvalidConfig = "invalid_config"
	codeRateLimited   = "rate_limited"
	codeShuttingDown  = "shutting_down"
	codeNotAvailable  = "not_available"
	codeInternal      = "internal"
)

// apiError is the body of every error answer.
type apiError struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Errors  []state.ConfigError `json:"errors,omitempty"` // 422: every configuration error
}

// writeJSON answers v with status; encoding errors cannot happen for the
// view types (no channels, funcs or cyclic values).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError answers {"error": {"code": code, "message": msg}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: msg}})
}

func writeInvalid(w http.ResponseWriter, errs []state.ConfigError) {
	msg := "the configuration is not valid"
	if len(errs) > 0 {
		msg = fmt.Sprintf("the configuration is not valid: %d:%d: %s", errs[0].Line, errs[0].Col, errs[0].Message)
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(errs)-1)
		}
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]apiError{"error": {Code: codeInvalidConfig, Message: msg, Errors: errs}})
}

// bodyError is a request body that cannot be used: 400 (or 413), naming
// the field when there is one.
type bodyError struct {
	status int
	msg    string
}

func (e *bodyError) Error() string { return e.msg }

func badBody(format string, args ...any) error {
	return &bodyError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// writeBodyError answers a decodeJSON/readBody error.
func writeBodyError(w http.ResponseWriter, err error) {
	var be *bodyError
	if errors.As(err, &be) {
		code := codeBadRequest
		if be.status == http.StatusRequestEntityTooLarge {
			code = codeTooLarge
		}
		writeError(w, be.status, code, be.msg)
		return
	}
	writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
}

// readBody reads the whole (already bounded) body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &bodyError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)}
	}
	if err != nil {
		return nil, badBody("reading the request body: %v", err)
	}
	return b, nil
}

// decodeJSON reads the body into v strictly: one JSON object, no unknown
// fields, nothing after it. The error names the field or the offset.
func decodeJSON(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeJSONBytes(b, v)
}

// decodeJSONBytes is decodeJSON on a byte slice (the fuzz targets' entry).
func decodeJSONBytes(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badBody("the request body is empty: a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badBody("unexpected data after the JSON object at offset %d", dec.InputOffset())
	}
	return nil
}

// jsonError turns encoding/json errors into messages naming the field.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return badBody("invalid JSON at offset %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		if te.Field == "" {
			return badBody("expected a JSON object, got %s", te.Value)
		}
		return badBody("field %q: expected %s, got %s", te.Field, jsonKind(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badBody("the JSON object is cut short")
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return badBody("unknown field %s", f)
	}
	// Errors from a field's UnmarshalText/UnmarshalJSON (e.g. a role).
	return badBody("%s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "int", "int64", "uint64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "string", "auth.Role":
		return "a string"
	}
	return goType
}
