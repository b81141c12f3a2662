package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestOverridesPrecedence(t *testing.T) {
	env := map[string]string{
		"SLUICE_ADMIN_LISTEN": "0.0.0.0:9900",
		"SLUICE_LOG_LEVEL":    "debug",
		"SLUICE_LOG_FORMAT":   "", // empty: as if unset
		"SLUICE_STATE_DIR":    "/var/lib/sluice",
	}
	look := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	flags := map[string]string{"log-level": "warn", "access-log": "off", "state-dir": ""}
	got := Overrides(flags, look)
	want := []Override{
		{Key: "admin.listen", Value: "0.0.0.0:9900", Source: "SLUICE_ADMIN_LISTEN"},
		{Key: "logging.level", Value: "warn", Source: "--log-level"},
		{Key: "logging.access_log", Value: "off", Source: "--access-log"},
		{Key: "admin.state_dir", Value: "", Source: "--state-dir"}, // a flag given empty still wins
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Overrides:\n got %+v\nwant %+v", got, want)
	}
	if got := Overrides(nil, func(string) (string, bool) { return "", false }); len(got) != 0 {
		t.Fatalf("no flags, no environment: %+v", got)
	}
}

func TestParseWithOverrides(t *testing.T) {
	src := "admin: {listen: 127.0.0.1:9901}\nlogging: {level: error, access_log: /var/log/x.log}\n" + minimal
	ovs := []Override{
		{Key: "admin.listen", Value: "0.0.0.0:9900", Source: "SLUICE_ADMIN_LISTEN"},
		{Key: "logging.access_log", Value: "stderr", Source: "--access-log"},
		{Key: "admin.state_dir", Value: "/var/lib/sluice", Source: "SLUICE_STATE_DIR"},
	}
	c, err := parseWith("t.yaml", []byte(src), lookup, ovs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen != "0.0.0.0:9900" || c.Logging.AccessLog != "stderr" || c.Admin.StateDir != "/var/lib/sluice" || c.Logging.Level != "error" {
		t.Fatalf("effective values: admin %+v logging %+v", c.Admin, c.Logging)
	}
	for key, want := range map[string]string{
		"admin.listen":       "SLUICE_ADMIN_LISTEN",
		"logging.access_log": "--access-log",
		"admin.state_dir":    "SLUICE_STATE_DIR",
		"logging.level":      "file",
		"logging.format":     "default",
		"frontends":          "",
	} {
		if got := c.Source(key); got != want {
			t.Errorf("Source(%s) = %q, want %q", key, got, want)
		}
	}
	if c.Value("logging.format") != "json" || c.Value("admin.listen") != "0.0.0.0:9900" {
		t.Errorf("Value: %q %q", c.Value("logging.format"), c.Value("admin.listen"))
	}
	// The file stays what it is: the checksum is of the text as read.
	if plain := mustParse(t, src); plain.Checksum() != c.Checksum() || plain.Admin.Listen != "127.0.0.1:9901" {
		t.Errorf("checksum or plain parse changed by overrides")
	}
	// A value the file gets wrong does not matter when an override replaces it.
	bad := strings.Replace(src, "level: error", "level: loud", 1)
	if _, err := parseWith("t.yaml", []byte(bad), lookup, []Override{{Key: "logging.level", Value: "info", Source: "SLUICE_LOG_LEVEL"}}); err != nil {
		t.Errorf("file value replaced by an override still reported: %v", err)
	}
}

// An invalid override is an error naming the flag or variable (no file
// position: the file is not at fault).
func TestOverrideErrorsNameTheSource(t *testing.T) {
	cases := []struct {
		ov   Override
		want string
	}{
		{Override{"logging.level", "loud", "SLUICE_LOG_LEVEL"}, `SLUICE_LOG_LEVEL: logging.level: unknown value "loud": want error, warn, info, debug, trace`},
		{Override{"logging.format", "xml", "--log-format"}, `--log-format: logging.format: unknown value "xml": want json, text`},
		{Override{"logging.access_log", "", "--access-log"}, `--access-log: logging.access_log: must be stdout, stderr, off or a file path`},
		{Override{"admin.listen", "9900", "SLUICE_ADMIN_LISTEN"}, `SLUICE_ADMIN_LISTEN: admin.listen: `},
		{Override{"admin.state_dir", "state", "SLUICE_STATE_DIR"}, `SLUICE_STATE_DIR: admin.state_dir: must be an absolute path (or empty: nothing persisted), got "state"`},
		{Override{"frontends", "x", "--nope"}, `--nope: frontends cannot be overridden (known: admin.listen, logging.level, logging.format, logging.access_log, admin.state_dir)`},
	}
	for _, tc := range cases {
		_, err := parseWith("t.yaml", []byte(minimal), lookup, []Override{tc.ov})
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 {
			t.Errorf("%+v: want one error, got %v", tc.ov, err)
			continue
		}
		if got := es[0].Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%+v:\n got %s\nwant %s...", tc.ov, got, tc.want)
		}
		if es[0].Line != 0 {
			t.Errorf("%+v: error has a file position %d:%d", tc.ov, es[0].Line, es[0].Col)
		}
	}
	// An overridden admin address that a frontend already uses: reported at
	// the frontend (in the file), naming where the admin address came from.
	_, err := parseWith("t.yaml", []byte(minimal), lookup, []Override{{Key: "admin.listen", Value: "0.0.0.0:8080", Source: "--admin-listen"}})
	if err == nil || err.Error() != `t.yaml:3:13: frontends[0].listen: address 127.0.0.1:8080 is already used by admin.listen (--admin-listen)` {
		t.Fatalf("collision: %v", err)
	}
}

func TestStateDirInFile(t *testing.T) {
	c := mustParse(t, "admin: {state_dir: /var/lib/sluice}\n"+minimal)
	if c.Admin.StateDir != "/var/lib/sluice" || c.Source("admin.state_dir") != "file" {
		t.Fatalf("%+v %s", c.Admin, c.Source("admin.state_dir"))
	}
	if got := errLines(t, "admin: {state_dir: relative/dir}\n"+minimal); len(got) != 1 || !strings.Contains(got[0], "1:20: admin.state_dir: must be an absolute path") {
		t.Fatalf("%q", got)
	}
}
