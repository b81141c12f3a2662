package peer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Sluice benchmarks the sluice binary at path: GOMAXPROCS=1, access log off, active
// health checks off (no peer checks), config per the contract's section 2.
func Sluice(path string) *Peer {
	return &Peer{
		Name: "sluice", Binary: path, L4: true, TLS: true,
		Install:  "build it with `make build` or pass --sluice PATH",
		Generate: sluiceConfig,
		Command: func(bin, dir, cfg string) *exec.Cmd {
			c := exec.Command(bin, "run", "-c", cfg)
			c.Env = append(os.Environ(), "GOMAXPROCS=1")
			return c
		},
		Validate: func(bin, dir, cfg string) *exec.Cmd { return exec.Command(bin, "validate", "-c", cfg) },
		Version:  func(bin string) *exec.Cmd { return exec.Command(bin, "version") },
	}
}

// SluiceRateLimited is sluice with three rate-limit rules on the HTTP
// frontend (per client IP; per IP on a path prefix and method; the whole
// frontend), with rates so high that nothing is refused: beside "sluice" in
// one run it shows what evaluating the rules costs per request (issue 9).
// Opt-in: --peers sluice,sluice-rl.
func SluiceRateLimited(path string) *Peer {
	p := Sluice(path)
	p.Name = "sluice-rl"
	p.Generate = func(dir string, s Setup) (string, error) {
		return sluiceYAML(dir, s, `    rate_limits:
      - {name: per-ip, key: client_ip, rate: 100000000/s, burst: 1000000}
      - {name: api-post, key: client_ip, rate: 100000000/s, burst: 1000000, match: {path_prefix: /api/, methods: [POST]}}
      - {name: frontend, key: frontend, rate: 100000000/s, burst: 1000000}
`)
	}
	return p
}

// RedisEnv names the variable holding the Redis URL of sluice-rl-redis
// (default redis://127.0.0.1:6379/0); start a redis-server there first.
const RedisEnv = "SLUICE_BENCH_REDIS"

// SluiceRateLimitedRedis is sluice-rl with its three rules shared through
// Redis (rate_limit_store, sync 100ms): beside sluice-rl it shows what the
// shared store costs per request. Opt-in: --peers sluice-rl,sluice-rl-redis.
func SluiceRateLimitedRedis(path string) *Peer {
	p := SluiceRateLimited(path)
	p.Name = "sluice-rl-redis"
	gen := p.Generate
	p.Generate = func(dir string, s Setup) (string, error) {
		cfg, err := gen(dir, s)
		if err != nil {
			return "", err
		}
		url := os.Getenv(RedisEnv)
		if url == "" {
			url = "redis://127.0.0.1:6379/0"
		}
		b, err := os.ReadFile(cfg)
		if err != nil {
			return "", err
		}
		return writeFile(dir, "sluice.yaml", string(b)+fmt.Sprintf("\nrate_limit_store: {redis: %q, sync: 100ms}\n", url))
	}
	return p
}

func sluiceConfig(dir string, s Setup) (string, error) { return sluiceYAML(dir, s, "") }

// sluiceYAML writes sluice's config; extra is appended to the web frontend.
func sluiceYAML(dir string, s Setup, extra string) (string, error) {
	return sluiceYAMLAdmin(dir, s, "", extra)
}

// sluiceYAMLAdmin is sluiceYAML with admin appended to the admin section.
func sluiceYAMLAdmin(dir string, s Setup, admin, extra string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `# sluice-bench: equivalent of ../haproxy/haproxy.cfg, ../nginx/nginx.conf and ../caddy/Caddyfile.
admin:
  listen: %s
%slogging:
  level: warn
  format: text
  access_log: "off"
shutdown_timeout: 2s
max_connections: %d

frontends:
  - name: web
    mode: http
    listen: %s
    max_connections: %d
    backend: web
%s`, s.AdminListen, admin, 2*s.MaxConns, s.HTTPListen, s.MaxConns, extra)
	if s.TLSListen != "" {
		fmt.Fprintf(&b, `  - name: webtls
    mode: http
    listen: %s
    max_connections: %d
    backend: web
    tls:
      certificates: [{cert: %s, key: %s}]
`, s.TLSListen, s.MaxConns, s.TLSCert, s.TLSKey)
	}
	if s.TCPListen != "" {
		fmt.Fprintf(&b, `  - name: echo
    mode: tcp
    listen: %s
    max_connections: %d
    backend: echo
`, s.TCPListen, s.MaxConns)
	}
	b.WriteString("\nbackends:\n")
	writeBackend := func(name string, servers []string) {
		fmt.Fprintf(&b, "  - name: %s\n    algorithm: round_robin\n    health:\n      active:\n        type: none\n    servers:\n", name)
		for _, a := range servers {
			fmt.Fprintf(&b, "      - address: %s\n", a)
		}
	}
	writeBackend("web", s.HTTPBackends)
	if s.TCPListen != "" {
		writeBackend("echo", s.TCPBackends)
	}
	return writeFile(dir, "sluice.yaml", b.String())
}

// HAProxy: nbthread 1, keep-alive both sides with connection reuse, no logging.
func HAProxy() *Peer {
	return &Peer{
		Name: "haproxy", Binary: "haproxy", L4: true, TLS: true, Install: DepsHint,
		Generate: haproxyConfig,
		Command:  func(bin, dir, cfg string) *exec.Cmd { return exec.Command(bin, "-db", "-f", cfg) },
		Validate: func(bin, dir, cfg string) *exec.Cmd { return exec.Command(bin, "-c", "-q", "-f", cfg) },
		Version:  func(bin string) *exec.Cmd { return exec.Command(bin, "-v") },
	}
}

func haproxyConfig(dir string, s Setup) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `# sluice-bench: equivalent of ../sluice/sluice.yaml.
global
    nbthread 1
    maxconn %d
    # Every peer gets the same open-file limit; HAProxy wants 2 per connection and would
    # refuse to start below that, but idle HTTP clients hold one each.
    no strict-limits

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always

frontend web
    bind %s
    maxconn %d
    default_backend web

backend web
    balance roundrobin
`, s.MaxConns, s.HTTPListen, s.MaxConns)
	for i, a := range s.HTTPBackends {
		fmt.Fprintf(&b, "    server web%d %s\n", i+1, a)
	}
	if s.TLSListen != "" {
		// Session tickets and the session cache are on by default.
		fmt.Fprintf(&b, "\nfrontend webtls\n    bind %s ssl crt %s alpn http/1.1 ssl-min-ver TLSv1.2\n    maxconn %d\n    default_backend web\n",
			s.TLSListen, s.TLSCombined, s.MaxConns)
	}
	if s.TCPListen != "" {
		fmt.Fprintf(&b, "\nlisten echo\n    mode tcp\n    bind %s\n    maxconn %d\n    balance roundrobin\n", s.TCPListen, s.MaxConns)
		for i, a := range s.TCPBackends {
			fmt.Fprintf(&b, "    server echo%d %s\n", i+1, a)
		}
	}
	return writeFile(dir, "haproxy.cfg", b.String())
}

// Nginx: worker_processes 1, upstream keepalive, access_log off, stream module for L4.
// It runs with -p dir so every runtime file (pid, logs, temp dirs) stays in dir.
func Nginx() *Peer {
	return &Peer{
		Name: "nginx", Binary: "nginx", L4: true, TLS: true, Install: DepsHint,
		Scratch:  []string{"tmp", "logs", "nginx.pid"},
		Generate: nginxConfig,
		Command: func(bin, dir, cfg string) *exec.Cmd {
			return exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cfg)
		},
		Validate: func(bin, dir, cfg string) *exec.Cmd {
			return exec.Command(bin, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cfg)
		},
		Version: func(bin string) *exec.Cmd { return exec.Command(bin, "-v") },
	}
}

// nginxStreamModule is where Debian's libnginx-mod-stream puts the dynamic module.
var nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

func nginxConfig(dir string, s Setup) (string, error) {
	for _, d := range []string{"tmp", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o777); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString("# sluice-bench: equivalent of ../sluice/sluice.yaml.\n")
	if s.TCPListen != "" {
		if _, err := os.Stat(nginxStreamModule); err == nil {
			fmt.Fprintf(&b, "load_module %s;\n", nginxStreamModule)
		}
	}
	fmt.Fprintf(&b, `worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_rlimit_nofile %[2]d;

events {
    worker_connections %[2]d;
}

http {
    access_log off;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;

    upstream web {
`, dir, min(2*s.MaxConns+1000, s.fdLimit()))
	for _, a := range s.HTTPBackends {
		fmt.Fprintf(&b, "        server %s;\n", a)
	}
	fmt.Fprintf(&b, `        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 90s;
    }

    server {
        listen %s;
        location / {
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }
    }
%s}
`, s.HTTPListen, nginxTLSServer(s))
	if s.TCPListen != "" {
		b.WriteString("\nstream {\n    upstream echo {\n")
		for _, a := range s.TCPBackends {
			fmt.Fprintf(&b, "        server %s;\n", a)
		}
		fmt.Fprintf(&b, "    }\n    server {\n        listen %s;\n        proxy_pass echo;\n    }\n}\n", s.TCPListen)
	}
	return writeFile(dir, "nginx.conf", b.String())
}

// Caddy: GOMAXPROCS=1, admin API and automatic HTTPS off, no access log (Caddy logs
// requests only with a log directive). Caddy has no L4 proxy in its standard build.
func Caddy() *Peer {
	env := func(c *exec.Cmd, dir string) *exec.Cmd {
		c.Env = append(os.Environ(), "GOMAXPROCS=1", "HOME="+dir,
			"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		return c
	}
	return &Peer{
		Name: "caddy", Binary: "caddy", L4: false, Install: DepsHint,
		Scratch:  []string{".step", "config", "data", ".local", ".config"},
		Generate: caddyConfig,
		Command: func(bin, dir, cfg string) *exec.Cmd {
			return env(exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile"), dir)
		},
		Validate: func(bin, dir, cfg string) *exec.Cmd {
			return env(exec.Command(bin, "validate", "--config", cfg, "--adapter", "caddyfile"), dir)
		},
		Version: func(bin string) *exec.Cmd { return exec.Command(bin, "version") },
	}
}

func caddyConfig(dir string, s Setup) (string, error) {
	host, port, ok := strings.Cut(s.HTTPListen, ":")
	if !ok {
		return "", fmt.Errorf("caddy: listen address %q has no port", s.HTTPListen)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# sluice-bench: equivalent of ../sluice/sluice.yaml (HTTP only: no L4 in standard Caddy).
{
	admin off
	auto_https off
}

:%s {
	bind %s
	reverse_proxy %s {
		lb_policy round_robin
	}
}
`, port, host, strings.Join(s.HTTPBackends, " "))
	return writeFile(dir, "Caddyfile", b.String())
}

// nginxTLSServer is nginx's TLS frontend: tickets on, a shared session
// cache, TLS 1.2 and 1.3 (nginx's ALPN offers http/1.1 without http2).
func nginxTLSServer(s Setup) string {
	if s.TLSListen == "" {
		return ""
	}
	return fmt.Sprintf(`
    server {
        listen %s ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;
        location / {
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffer_size 16k;
            proxy_buffers 8 16k;
        }
    }
`, s.TLSListen, s.TLSCert, s.TLSKey)
}
