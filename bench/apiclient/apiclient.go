// Package apiclient attaches admin-API clients to a running sluice for the benchmark: N
// WebSocket clients on GET /api/v1/stream (subscribed to stats, events and logs, as the
// web UI is) or N gRPC clients on sluice.v1.Control/Watch (as `sluice ctl watch`), so
// that the harness measures the data path while the API is busy (issues 20 and 22).
//
// The clients run in the calling process (the harness, which is kept off the proxy's
// CPU) and count the messages they receive, by type; the harness checks that every
// client received something in each measurement window.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
)

// Kinds of client.
const (
	Stream = "stream" // WebSocket GET /api/v1/stream
	Watch  = "watch"  // gRPC sluice.v1.Control/Watch
)

// UITopics are the stream topics the web UI subscribes to.
var UITopics = []string{"stats", "events", "logs"}

// Message types counted per client; "other" is anything else (a "subscribed" or
// "error" frame is not counted as data). "log" counts access-log lines: a "logs"
// frame (a batch, as sluice sends them) counts its entries.
var msgTypes = []string{"stats", "event", "log"}

// Options says what to attach. Zero values: Topics UITopics (stream only), Timeout 10 s.
type Options struct {
	Kind      string   // Stream or Watch
	N         int      // clients, >= 1
	AdminAddr string   // admin listener host:port (stream)
	GRPCAddr  string   // admin.grpc_listen host:port (watch)
	Key       string   // API key, sent as "Bearer KEY"
	Topics    []string // stream topics; Watch always asks for stats and events
	Timeout   time.Duration
	// Grace is how long Check waits, after a window in which a client received nothing,
	// for that client's next message (stats come once a second, and a loaded proxy may
	// send one late); default 2 s.
	Grace time.Duration
}

// client is one attached client; its counters are written by its reader goroutine.
type client struct {
	id     int
	counts [3]atomic.Int64 // stats, event, log
	err    atomic.Pointer[error]
}

func (c *client) total() int64 {
	var n int64
	for i := range c.counts {
		n += c.counts[i].Load()
	}
	return n
}

func (c *client) fail(err error) { c.err.CompareAndSwap(nil, &err) }

// Set is a group of attached clients. Mark and Check are called by one goroutine (the
// harness); the counters are atomics read while the clients run.
type Set struct {
	opts    Options
	clients []*client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing atomic.Bool
	conns   []io.Closer
	open    []int64 // per client, total at the window's opening
	shut    []int64 // per client, total at the window's close
	t0, t1  time.Time
}

// Attach connects o.N clients and returns once each is subscribed: a stream client has
// had its "subscribed" answer, a Watch client its first message (the server sends the
// current stats at once). It fails if any client cannot connect within o.Timeout.
func Attach(ctx context.Context, o Options) (*Set, error) {
	if o.N < 1 {
		return nil, fmt.Errorf("apiclient: %d clients: want at least 1", o.N)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Second
	}
	if o.Kind == Stream && len(o.Topics) == 0 {
		o.Topics = UITopics
	}
	cctx, cancel := context.WithCancel(context.Background())
	s := &Set{opts: o, cancel: cancel}
	ready := make(chan error, o.N)
	for i := range o.N {
		c := &client{id: i + 1}
		s.clients = append(s.clients, c)
		var err error
		switch o.Kind {
		case Stream:
			err = s.startStream(ctx, cctx, c, ready)
		case Watch:
			err = s.startWatch(cctx, c, ready)
		default:
			err = fmt.Errorf("apiclient: kind %q: want %s or %s", o.Kind, Stream, Watch)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	deadline := time.NewTimer(o.Timeout)
	defer deadline.Stop()
	for range o.N {
		select {
		case err := <-ready:
			if err != nil {
				s.Close()
				return nil, err
			}
		case <-deadline.C:
			s.Close()
			return nil, fmt.Errorf("apiclient: %d %s clients not all subscribed after %v", o.N, o.Kind, o.Timeout)
		case <-ctx.Done():
			s.Close()
			return nil, ctx.Err()
		}
	}
	return s, nil
}

func (s *Set) startStream(ctx, cctx context.Context, c *client, ready chan<- error) error {
	dctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, "ws://"+s.opts.AdminAddr+"/api/v1/stream", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + s.opts.Key}}})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("stream client %d: GET /api/v1/stream: %v (HTTP %d)", c.id, err, resp.StatusCode)
		}
		return fmt.Errorf("stream client %d: GET /api/v1/stream: %w", c.id, err)
	}
	conn.SetReadLimit(4 << 20) // a stats sample of many servers
	sub, _ := json.Marshal(map[string][]string{"subscribe": s.opts.Topics})
	if err := conn.Write(dctx, websocket.MessageText, sub); err != nil {
		conn.CloseNow()
		return fmt.Errorf("stream client %d: subscribe: %w", c.id, err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer conn.CloseNow()
		subscribed := false
		for {
			_, b, err := conn.Read(cctx)
			if err != nil {
				if !subscribed {
					ready <- fmt.Errorf("stream client %d: no answer to the subscribe message: %w", c.id, err)
				}
				if !s.closing.Load() {
					c.fail(fmt.Errorf("stream client %d: connection ended: %w", c.id, err))
				}
				return
			}
			switch t := frameType(b); t {
			case "subscribed":
				if !subscribed {
					subscribed = true
					ready <- nil
				}
			case "error":
				err := fmt.Errorf("stream client %d: the server answered %s", c.id, b)
				if !subscribed {
					subscribed = true
					ready <- err
				}
				c.fail(err)
			case "logs":
				c.counts[logIndex].Add(int64(logLines(b)))
			default:
				if i := slices.Index(msgTypes, t); i >= 0 {
					c.counts[i].Add(1)
				}
			}
		}
	}()
	return nil
}

var logIndex = slices.Index(msgTypes, "log")

// logLines is the number of entries of a {"type":"logs","logs":[...]} frame. As
// sluice writes them (each entry an object whose first key is "id", which no other
// object in an entry has, and a quote inside a string is escaped) the entries are
// counted without decoding, so the clients take little of the harness's CPU; other
// shapes are decoded.
func logLines(b []byte) int {
	if bytes.HasPrefix(b, []byte(`{"type":"logs","logs":[{"id":`)) {
		return bytes.Count(b, []byte(`{"id":`))
	}
	var f struct {
		Logs []json.RawMessage `json:"logs"`
	}
	_ = json.Unmarshal(b, &f)
	return len(f.Logs)
}

// frameType reads "type" from a frame that starts {"type":"X" (as sluice writes them)
// without decoding the rest; other shapes are decoded.
func frameType(b []byte) string {
	const prefix = `{"type":"`
	if rest, ok := bytes.CutPrefix(b, []byte(prefix)); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 {
			return string(rest[:i])
		}
	}
	var f struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &f)
	return f.Type
}

func (s *Set) startWatch(cctx context.Context, c *client, ready chan<- error) error {
	conn, err := grpc.NewClient("passthrough:///"+s.opts.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("watch client %d: %w", c.id, err)
	}
	s.conns = append(s.conns, conn)
	ctx := metadata.AppendToOutgoingContext(cctx, "authorization", "Bearer "+s.opts.Key)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		first := true
		report := func(err error) {
			if first {
				first = false
				ready <- err
			}
		}
		w, err := sluicev1.NewControlClient(conn).Watch(ctx, &sluicev1.WatchRequest{Stats: true, Events: true})
		if err != nil {
			err = fmt.Errorf("watch client %d: Watch: %w", c.id, err)
			report(err)
			c.fail(err)
			return
		}
		for {
			m, err := w.Recv()
			if err != nil {
				if first {
					report(fmt.Errorf("watch client %d: no first message: %w", c.id, err))
				}
				if !s.closing.Load() {
					c.fail(fmt.Errorf("watch client %d: Watch ended: %w", c.id, err))
				}
				return
			}
			switch {
			case m.GetStats() != nil:
				c.counts[0].Add(1)
			case m.GetEvent() != nil:
				c.counts[1].Add(1)
			}
			report(nil)
		}
	}()
	return nil
}

// N is the number of clients.
func (s *Set) N() int { return len(s.clients) }

// Kind is Stream or Watch.
func (s *Set) Kind() string { return s.opts.Kind }

// Mark records every client's count as the measurement window opens (true) or closes
// (false); it has the shape of load.HTTPOptions.Mark.
func (s *Set) Mark(open bool) {
	now := make([]int64, len(s.clients))
	for i, c := range s.clients {
		now[i] = c.total()
	}
	if open {
		s.open, s.shut, s.t0, s.t1 = now, nil, time.Now(), time.Time{}
	} else {
		s.shut, s.t1 = now, time.Now()
	}
}

// Window is what the clients received in the last window marked.
type Window struct {
	Total     int64         // messages over all clients
	MinClient int64         // the fewest any one client received
	Duration  time.Duration // the window's length
}

// PerSecond is Total per second of the window.
func (w Window) PerSecond() float64 {
	if w.Duration <= 0 {
		return 0
	}
	return float64(w.Total) / w.Duration.Seconds()
}

// Check returns the last window's figures (counted between the marks), or an error when
// a client has failed (its connection ended, the server sent an error) or received
// nothing from the window's opening until Grace after its close.
func (s *Set) Check() (Window, error) {
	if err := s.Err(); err != nil {
		return Window{}, err
	}
	if s.open == nil || s.shut == nil {
		return Window{}, errors.New("apiclient: no measurement window marked")
	}
	w := Window{Duration: s.t1.Sub(s.t0), MinClient: -1}
	var late []int
	for i := range s.clients {
		d := s.shut[i] - s.open[i]
		w.Total += d
		if w.MinClient < 0 || d < w.MinClient {
			w.MinClient = d
		}
		if d == 0 {
			late = append(late, i)
		}
	}
	deadline := s.t1.Add(s.opts.Grace)
	for len(late) > 0 && time.Now().Before(deadline) {
		late = slices.DeleteFunc(late, func(i int) bool { return s.clients[i].total() > s.open[i] })
		if len(late) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := s.Err(); err != nil {
		return w, err
	}
	if len(late) > 0 {
		ids := make([]string, len(late))
		for j, i := range late {
			ids[j] = fmt.Sprint(s.clients[i].id)
		}
		return w, fmt.Errorf("%s client(s) %s of %d received no message in the %v window nor %v after it",
			s.opts.Kind, strings.Join(ids, ","), len(s.clients), w.Duration.Round(time.Millisecond), s.opts.Grace)
	}
	return w, nil
}

// Err is the first failure of any client, or nil.
func (s *Set) Err() error {
	for _, c := range s.clients {
		if p := c.err.Load(); p != nil {
			return *p
		}
	}
	return nil
}

// Counts sums the messages received since Attach by type: stats, event, log.
func (s *Set) Counts() map[string]int64 {
	out := map[string]int64{}
	for _, c := range s.clients {
		for i, t := range msgTypes {
			out[t] += c.counts[i].Load()
		}
	}
	return out
}

// Summary is one line for the harness log: kind, clients and messages by type.
func (s *Set) Summary() string {
	c := s.Counts()
	return fmt.Sprintf("%d %s client(s) received stats=%d event=%d log=%d", len(s.clients), s.opts.Kind, c["stats"], c["event"], c["log"])
}

// Close disconnects every client and waits for their goroutines.
func (s *Set) Close() {
	s.closing.Store(true)
	s.cancel()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.wg.Wait()
}

// CreateKey logs in to the admin API at adminAddr as user (POST /api/v1/login, a session
// cookie and its CSRF token) and creates an API key with role (POST /api/v1/keys), as
// docs/api.md describes; it returns the key.
func CreateKey(ctx context.Context, adminAddr, user, password, name, role string) (string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	base := "http://" + adminAddr
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	if err := postJSON(ctx, hc, base+"/api/v1/login", "", body, 200, &login); err != nil {
		return "", err
	}
	var key struct {
		Key string `json:"key"`
	}
	body, _ = json.Marshal(map[string]string{"name": name, "role": role})
	if err := postJSON(ctx, hc, base+"/api/v1/keys", login.CSRF, body, 201, &key); err != nil {
		return "", err
	}
	if !strings.HasPrefix(key.Key, "sluice_") {
		return "", fmt.Errorf("POST /api/v1/keys: no key in the answer")
	}
	return key.Key, nil
}

func postJSON(ctx context.Context, hc *http.Client, url, csrf string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	return nil
}
