package app

import (
	"io"
	"log/slog"
	"strings"
)

// LevelTrace is below slog's Debug: per-connection detail for debugging.
const LevelTrace = slog.LevelDebug - 4

// ParseLevel maps the contract's logging.level to a slog level.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "error":
		return slog.LevelError
	case "warn":
		return slog.LevelWarn
	case "debug":
		return slog.LevelDebug
	case "trace":
		return LevelTrace
	default:
		return slog.LevelInfo
	}
}

// NewLogger returns the process logger writing to w in format ("json" or
// "text") at the level held by lv, which a reload may change.
func NewLogger(w io.Writer, format string, lv *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			if l, ok := a.Value.Any().(slog.Level); ok && l == LevelTrace {
				a.Value = slog.StringValue("TRACE")
			}
		}
		return a
	}}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
