package ctl

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestCtlDocsListEveryCommand: docs/grpc.md (which the package doc points
// to) describes every command of `sluice ctl` (a **`sluice ctl NAME`**
// entry), every flag of the usage text, and every exit code; the usage
// text itself names every command.
func TestCtlDocsListEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../docs/grpc.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.Contains(doc, "**`sluice ctl "+n) {
			t.Errorf("docs/grpc.md has no entry **`sluice ctl %s …`**", n)
		}
		if !regexp.MustCompile(`(?m)^  ` + n + `\b`).MatchString(Usage) {
			t.Errorf("the usage text does not list %s", n)
		}
	}
	for _, f := range regexp.MustCompile(`--[a-z][a-z-]*`).FindAllString(Usage, -1) {
		if f == "--frontend" || f == "--method" || f == "--host" || f == "--path" || f == "--client-ip" || f == "--header" {
			if !strings.Contains(doc, f+" ") {
				t.Errorf("docs/grpc.md does not mention explain's %s", f)
			}
			continue
		}
		if !strings.Contains(doc, "| `"+f) {
			t.Errorf("docs/grpc.md has no row for the flag %s", f)
		}
	}
	src, err := os.ReadFile("ctl.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^\s+(Exit\w+)\s+= (\d+)`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 7 {
		t.Fatalf("found %d exit codes in ctl.go", len(codes))
	}
	for _, c := range codes {
		if !regexp.MustCompile(`(?m)^\| ` + c[2] + ` \| \S`).MatchString(doc) {
			t.Errorf("docs/grpc.md's exit code table has no row for %s (%s)", c[1], c[2])
		}
	}
}
