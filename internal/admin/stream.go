package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicelb/sluice/internal/state"
)

// Stream limits.
const (
	defaultStreamPing  = 20 * time.Second // a ping every this; no pong within it drops the client
	streamWriteTimeout = 5 * time.Second  // a frame not written within this drops the client
	streamBuffer       = 256              // items queued per client before the producer drops it
	maxSubscribeBytes  = 4 << 10          // a subscribe message
)

// Stream topics.
const (
	topicStats  = "stats"
	topicEvents = "events"
	topicLogs   = "logs"
)

// subscribeMsg is what a client sends to choose what it receives, e.g.
// {"subscribe": ["stats", "logs"], "logs": {"status": "5xx"}}. It replaces
// the previous choice; before the first one a client gets stats and events.
type subscribeMsg struct {
	Subscribe []string      `json:"subscribe"`
	Logs      *logFilterMsg `json:"logs"`
}

// logFilterMsg is the stream's log filter: the query parameters of GET
// /api/v1/logs, without limit.
type logFilterMsg struct {
	Frontend string `json:"frontend"`
	Backend  string `json:"backend"`
	Status   string `json:"status"`
	ClientIP string `json:"client_ip"`
	Q        string `json:"q"`
}

// streamFilter is a compiled subscribeMsg.
type streamFilter struct {
	stats, events, logs bool
	match               *state.LogMatcher
	key                 state.LogFilter // match's filter, Limit 0: a batch made for it needs no second look
	topics              []string
}

// compile checks a subscribe message, naming the field.
func (m *subscribeMsg) compile() (*streamFilter, error) {
	if m.Subscribe == nil {
		return nil, badBody("field \"subscribe\" is required: a list of stats, events, logs")
	}
	f := &streamFilter{topics: []string{}}
	for _, t := range m.Subscribe {
		switch t {
		case topicStats:
			f.stats = true
		case topicEvents:
			f.events = true
		case topicLogs:
			f.logs = true
		default:
			return nil, badBody("field \"subscribe\": unknown topic %q: want stats, events or logs", t)
		}
		f.topics = append(f.topics, t)
	}
	var lf state.LogFilter
	if m.Logs != nil {
		lf = state.LogFilter{Frontend: m.Logs.Frontend, Backend: m.Logs.Backend, Status: m.Logs.Status, ClientIP: m.Logs.ClientIP, Q: m.Logs.Q}
	}
	match, err := state.CompileLogFilter(lf)
	if err != nil {
		return nil, badBody("field \"logs\": %v", err)
	}
	f.match = match
	f.key = match.Filter()
	f.key.Limit = 0
	return f, nil
}

// frame is one message the server sends. Log lines go out as "logs", a
// batch (one per producer tick, oldest first): one encode and one write
// for many lines, and one encode for all clients with the same filter.
type frame struct {
	Type      string           `json:"type"` // stats | event | logs | subscribed | error
	Stats     *state.Stats     `json:"stats,omitempty"`
	Event     *state.Event     `json:"event,omitempty"`
	Logs      []state.LogEntry `json:"logs,omitempty"`
	Subscribe []string         `json:"subscribe,omitempty"`
	Error     *apiError        `json:"error,omitempty"`
}

// Streams is the number of live stream clients.
func (s *Server) Streams() int64 { return s.streams.Load() }

// stream is GET /api/v1/stream: a WebSocket that pushes the stats sample
// once a second and events and access-log lines as they happen, as chosen
// by the client's subscribe messages. A client that does not keep up is
// dropped, never buffered for: the producer closes a full subscription,
// a frame not written within 5 s closes the socket, and a ping not
// answered within the ping interval closes it too. The server's read and
// write deadlines are cleared for the hijacked connection.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if _, err := query(r); err != nil {
		writeBodyError(w, err)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
		writeError(w, http.StatusForbidden, codeForbidden, "a stream from another origin ("+o+") is refused")
		return
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		writeError(w, http.StatusUpgradeRequired, codeBadRequest, "GET /api/v1/stream is a WebSocket: connect with a WebSocket client")
		return
	}
	ctl, ok := s.control(w)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return // Accept answered the client
	}
	conn.SetReadLimit(maxSubscribeBytes)
	s.streams.Add(1)
	defer s.streams.Add(-1)
	sub := ctl.Subscribe(streamBuffer)
	defer sub.Close()
	setFilter := func(f *streamFilter) {
		if sub.SetFilter != nil { // items filtered out then never take room in C
			sub.SetFilter(state.StreamFilter{Stats: f.stats, Events: f.events, Logs: f.logs, Log: f.match.Filter()})
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var filter atomic.Pointer[streamFilter]
	first := &streamFilter{stats: true, events: true, match: mustMatchAll, topics: []string{topicStats, topicEvents}}
	filter.Store(first)
	setFilter(first)
	go s.streamRead(ctx, cancel, conn, &filter, setFilter)
	go s.streamPing(ctx, cancel, conn)

	reason, code := "", websocket.StatusNormalClosure
	for reason == "" {
		select {
		case <-ctx.Done():
			reason = "closed"
		case <-s.done:
			reason, code = "sluice is shutting down", websocket.StatusGoingAway
		case it, open := <-sub.C:
			if !open {
				reason, code = "too slow: the stream fell behind", websocket.StatusTryAgainLater
				break
			}
			b, err := encodeItem(it, filter.Load())
			if err != nil {
				s.log.Warn("stream: a frame could not be encoded", "error", err)
				continue
			}
			if b == nil {
				continue
			}
			if err := writeBytes(ctx, conn, b); err != nil {
				reason, code = "too slow: a frame was not taken within "+streamWriteTimeout.String(), websocket.StatusPolicyViolation
			}
		}
	}
	if code == websocket.StatusNormalClosure {
		conn.CloseNow()
		return
	}
	s.log.Debug("stream closed", "remote", remoteAddr(r), "reason", reason)
	// Close sends the status and waits at most 5 s for the client's close
	// frame (the reader goroutine, still running, takes it); a connection
	// already broken by a write timeout gets CloseNow.
	if err := conn.Close(code, reason); err != nil {
		conn.CloseNow()
	}
}

var mustMatchAll, _ = state.CompileLogFilter(state.LogFilter{})

// encodeItem is the frame for it under filter f, nil when f does not
// want it. A log batch made for f's filter is encoded once, shared by
// every client with that filter; one queued under an older filter (the
// client changed it since) is filtered again and encoded for this client.
func encodeItem(it state.Item, f *streamFilter) ([]byte, error) {
	switch {
	case it.Stats != nil && f.stats:
		return json.Marshal(&frame{Type: "stats", Stats: it.Stats})
	case it.Event != nil && f.events:
		return json.Marshal(&frame{Type: "event", Event: it.Event})
	case it.Logs != nil && f.logs:
		if it.Logs.Filter == f.key {
			return it.Logs.Encode(encodeLogBatch)
		}
		var keep []state.LogEntry
		for i := range it.Logs.Entries {
			if f.match.Match(&it.Logs.Entries[i]) {
				keep = append(keep, it.Logs.Entries[i])
			}
		}
		if len(keep) == 0 {
			return nil, nil
		}
		return encodeLogs(keep)
	case it.Log != nil && f.logs && f.match.Match(it.Log):
		return encodeLogs([]state.LogEntry{*it.Log})
	}
	return nil, nil
}

// logsEncoded and logBytesEncoded count the log frames the stream encoded
// and their bytes (tests read them: the cost per line must not grow with
// the number of clients).
var logsEncoded, logBytesEncoded atomic.Int64

func encodeLogBatch(b *state.LogBatch) ([]byte, error) { return encodeLogs(b.Entries) }

func encodeLogs(entries []state.LogEntry) ([]byte, error) {
	b, err := json.Marshal(&frame{Type: "logs", Logs: entries})
	if err == nil {
		logsEncoded.Add(1)
		logBytesEncoded.Add(int64(len(b)))
	}
	return b, err
}

func writeFrame(ctx context.Context, conn *websocket.Conn, fr *frame) error {
	b, err := json.Marshal(fr)
	if err != nil {
		return err
	}
	return writeBytes(ctx, conn, b)
}

// writeBytes writes one text message within streamWriteTimeout (b is not
// modified: it may be a batch's shared encoding).
func writeBytes(ctx context.Context, conn *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, streamWriteTimeout)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, b)
}

// streamRead takes subscribe messages; a bad one is answered with an error
// frame and ignored. Any read error ends the stream.
func (s *Server) streamRead(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, filter *atomic.Pointer[streamFilter], setFilter func(*streamFilter)) {
	defer cancel()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var m subscribeMsg
		var f *streamFilter
		if typ != websocket.MessageText {
			err = badBody("send subscribe messages as text (JSON)")
		} else if err = decodeJSONBytes(b, &m); err == nil {
			f, err = m.compile()
		}
		if err != nil {
			_ = writeFrame(ctx, conn, &frame{Type: "error", Error: &apiError{Code: codeBadRequest, Message: err.Error()}})
			continue
		}
		filter.Store(f)
		setFilter(f)
		_ = writeFrame(ctx, conn, &frame{Type: "subscribed", Subscribe: f.topics})
	}
}

// streamPing pings every interval; a pong not back within it ends the
// stream (the client is gone or stopped reading).
func (s *Server) streamPing(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn) {
	defer cancel()
	t := time.NewTicker(s.opts.StreamPing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, s.opts.StreamPing)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		}
	}
}

// headerHas reports whether a comma-separated header lists token
// (case-insensitive).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
