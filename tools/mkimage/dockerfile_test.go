package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instr is one Dockerfile instruction, continuation lines joined.
type instr struct {
	cmd, args string
	line      int
}

// stage is one FROM … AS name and its instructions.
type stage struct {
	from, name string
	body       []instr
}

func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	known := []string{"FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "USER", "EXPOSE", "STOPSIGNAL",
		"ENTRYPOINT", "CMD", "LABEL", "WORKDIR", "VOLUME", "HEALTHCHECK", "SHELL", "ONBUILD"}
	for i, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		full := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		cmd = strings.ToUpper(cmd)
		if !slices.Contains(known, cmd) {
			t.Fatalf("%s:%d: unknown instruction %q", path, start, cmd)
		}
		in := instr{cmd: cmd, args: strings.TrimSpace(args), line: start}
		if cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if cmd != "ARG" {
				t.Fatalf("%s:%d: %s before FROM", path, start, cmd)
			}
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	return stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s stage) one(t *testing.T, cmd string) string {
	t.Helper()
	v := s.all(cmd)
	if len(v) != 1 {
		t.Fatalf("stage %s: %d %s instructions, want 1", s.name, len(v), cmd)
	}
	return v[0]
}

func jsonArray(t *testing.T, s string) []string {
	t.Helper()
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("not an exec-form JSON array: %s", s)
	}
	return a
}

// TestDockerfileMatchesImage keeps the Dockerfile and mkimage in step:
// the final stages are FROM scratch (through "base"), with the same user,
// entrypoint, command, environment, ports, stop signal, paths and labels as
// the image `make image` builds; one target copies bin/sluice, one builds
// from source. (No Docker daemon here to build it: this reads it.)
func TestDockerfileMatchesImage(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	by := map[string]stage{}
	var names []string
	for _, s := range stages {
		by[s.name] = s
		names = append(names, s.name)
	}
	if !slices.Equal(names, []string{"build", "rootfs", "base", "from-source", "prebuilt"}) {
		t.Fatalf("stages %v", names)
	}
	base := by["base"]
	if base.from != "scratch" || by["from-source"].from != "base" || by["prebuilt"].from != "base" {
		t.Fatalf("final stages must come FROM scratch through base: %+v", stages)
	}
	if got := base.one(t, "USER"); got != User {
		t.Errorf("USER %s, image %s", got, User)
	}
	if got := jsonArray(t, base.one(t, "ENTRYPOINT")); !slices.Equal(got, Entrypoint) {
		t.Errorf("ENTRYPOINT %q, image %q", got, Entrypoint)
	}
	if got := jsonArray(t, base.one(t, "CMD")); !slices.Equal(got, Cmd) {
		t.Errorf("CMD %q, image %q", got, Cmd)
	}
	if got := base.one(t, "STOPSIGNAL"); got != StopSignal {
		t.Errorf("STOPSIGNAL %s, image %s", got, StopSignal)
	}
	if got := strings.Fields(base.one(t, "ENV")); !slices.Equal(got, Env) {
		t.Errorf("ENV %q, image %q", got, Env)
	}
	conf, _ := os.ReadFile("../../configs/container.yaml")
	ports, err := listenPorts("container.yaml", conf)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(base.one(t, "EXPOSE")); !slices.Equal(got, ports) {
		t.Errorf("EXPOSE %q, the configuration listens on %q", got, ports)
	}
	if !slices.Contains(base.all("COPY"), "configs/container.yaml "+ConfigPath) {
		t.Errorf("base does not COPY configs/container.yaml to %s: %q", ConfigPath, base.all("COPY"))
	}
	labels := map[string]string{}
	for _, m := range regexp.MustCompile(`(\S+)="([^"]*)"`).FindAllStringSubmatch(base.one(t, "LABEL"), -1) {
		labels[m[1]] = m[2]
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.source":   Source,
		"org.opencontainers.image.version":  "${VERSION}",
		"org.opencontainers.image.revision": "${COMMIT}",
		"org.opencontainers.image.title":    "sluice",
	} {
		if labels[k] != want {
			t.Errorf("LABEL %s=%q, want %q", k, labels[k], want)
		}
	}
	rootfs := strings.Join(by["rootfs"].all("RUN"), " ")
	for _, want := range []string{CAPath, "sluice:x:" + strconv.Itoa(UID) + ":" + strconv.Itoa(UID) + ":sluice:" + StateDir,
		"chown " + strconv.Itoa(UID) + ":" + strconv.Itoa(UID) + " /rootfs" + StateDir, "chmod 0700 /rootfs" + StateDir} {
		if !strings.Contains(rootfs, want) {
			t.Errorf("rootfs stage lacks %q", want)
		}
	}
	if got := by["prebuilt"].all("COPY"); !slices.Equal(got, []string{"bin/sluice " + BinaryPath}) {
		t.Errorf("prebuilt COPY %q", got)
	}
	if got := by["from-source"].all("COPY"); !slices.Equal(got, []string{"--from=build /out/sluice " + BinaryPath}) {
		t.Errorf("from-source COPY %q", got)
	}
	build := strings.Join(by["build"].all("RUN"), " ")
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}", "-o /out/sluice ./cmd/sluice"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	ignore, _ := os.ReadFile("../../.dockerignore")
	if !strings.Contains(string(ignore), "\n!bin/sluice\n") {
		t.Errorf(".dockerignore must keep bin/sluice in the context")
	}
}
