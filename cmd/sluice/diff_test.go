package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// sluiceCmd runs the built binary and returns stdout, stderr and the exit code.
func sluiceCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(sluiceBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

const diffRunning = `frontends:
  - {name: web, listen: "127.0.0.1:18080", backend: app}
backends:
  - name: app
    servers:
      - {address: 10.0.0.1:80, weight: 3}
      - {address: 10.0.0.2:80}
`

// validate --diff-against prints "configuration OK" and then what a reload
// would change, binding nothing; 1 when either file is invalid.
func TestValidateDiffAgainst(t *testing.T) {
	dir := t.TempDir()
	running := writeFile(t, dir, "running.yaml", diffRunning)
	next := writeFile(t, dir, "next.yaml", strings.NewReplacer(
		"{address: 10.0.0.1:80, weight: 3}", "{address: 10.0.0.1:80, weight: 5}",
		"backend: app}", "backend: app, routes: [{name: api, match: {path_prefix: /api/}, backend: app}]}\n  - {name: tls, listen: \"127.0.0.1:18443\", backend: app}",
		"      - {address: 10.0.0.2:80}\n", "      - {address: 10.0.0.2:80}\n      - {address: 10.0.0.3:80}\n",
	).Replace(diffRunning))
	out, errOut, code := sluiceCmd(t, "validate", "-c", next, "--diff-against", running)
	want := "configuration OK\n" +
		"frontend web: route api (path /api/) → app added at position 1\n" +
		"frontend tls added (http, backend app): listener 127.0.0.1:18443 would be bound\n" +
		"backend app: weight of 10.0.0.1:80 3 → 5\n" +
		"backend app: server 10.0.0.3:80 added (weight 1)\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
	if out, _, code := sluiceCmd(t, "validate", "-c", running, "--diff-against", running); code != 0 || out != "configuration OK\nno changes against "+running+"\n" {
		t.Fatalf("same file: exit %d %q", code, out)
	}
	bad := writeFile(t, dir, "bad.yaml", diffRunning+"bogus: 1\n")
	if out, errOut, code := sluiceCmd(t, "validate", "-c", bad, "--diff-against", running); code != 1 || out != "" || !strings.Contains(errOut, `bad.yaml:8:1: top level: unknown key "bogus"`) {
		t.Fatalf("invalid new file: exit %d %q %q", code, out, errOut)
	}
	if out, errOut, code := sluiceCmd(t, "validate", "-c", next, "--diff-against", bad); code != 1 || out != "" || !strings.Contains(errOut, "bad.yaml (--diff-against) is not a valid configuration") {
		t.Fatalf("invalid running file: exit %d %q %q", code, out, errOut)
	}
}
