package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sluicelb/sluice/internal/config"
)

// What the image holds and how it runs. The Dockerfile says the same;
// TestDockerfileMatchesImage keeps the two in step.
const (
	BinaryPath = "/usr/local/bin/sluice"
	ConfigPath = "/etc/sluice/sluice.yaml"
	CAPath     = "/etc/ssl/certs/ca-certificates.crt"
	StateDir   = "/var/lib/sluice"
	UID        = 65532 // the non-root user ("sluice"), as distroless's nonroot
	User       = "65532:65532"
	StopSignal = "SIGTERM"
	Source     = "https://github.com/sluicelb/sluice"
)

// Entrypoint, Cmd and Env of the image: `docker run IMAGE` runs
// `sluice run` on ConfigPath; `docker run IMAGE validate` or `version` work
// too. SLUICE_CONFIG is the configuration's path only: no setting is
// overridden in the image, so a mounted file's values hold.
var (
	Entrypoint = []string{BinaryPath}
	Cmd        = []string{"run"}
	Env        = []string{"PATH=/usr/local/bin", "SLUICE_CONFIG=" + ConfigPath}
)

// Spec is what Build puts together.
type Spec struct {
	Binary   string    // a statically linked sluice (make build)
	Config   string    // the configuration for ConfigPath (configs/container.yaml)
	CABundle string    // PEM CA certificates for CAPath
	Version  string    // org.opencontainers.image.version
	Revision string    // org.opencontainers.image.revision (the commit)
	Created  time.Time // the image's creation time, also every file's mtime
}

// Build returns the image: one layer with the binary, the CA bundle, the
// configuration, /etc/passwd and /etc/group naming the user, and the state
// directory owned by it; a config with User, Entrypoint, Cmd, Env,
// ExposedPorts (the configuration's listen ports), StopSignal and OCI
// labels. The same Spec gives the same digest. It refuses a binary that is
// not statically linked (FROM scratch has no libc or loader), a
// configuration that does not validate and a CA bundle without a
// certificate.
func Build(s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binary)
	if err != nil {
		return nil, err
	}
	arch, err := staticELF(s.Binary)
	if err != nil {
		return nil, err
	}
	conf, err := os.ReadFile(s.Config)
	if err != nil {
		return nil, err
	}
	ports, err := listenPorts(s.Config, conf)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(s.CABundle)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w (Debian: apt-get install ca-certificates)", err)
	}
	if n := countCerts(ca); n == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate in it", s.CABundle)
	}
	created := s.Created.UTC().Truncate(time.Second)

	layer, err := buildLayer(created, []entry{
		dir("etc/", 0o755, 0), dir("etc/ssl/", 0o755, 0), dir("etc/ssl/certs/", 0o755, 0),
		file(CAPath[1:], 0o644, ca),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
			fmt.Sprintf("sluice:x:%d:%d:sluice:%s:/sbin/nologin\n", UID, UID, StateDir))),
		file("etc/group", 0o644, []byte(fmt.Sprintf("root:x:0:\nsluice:x:%d:\n", UID))),
		dir("etc/sluice/", 0o755, 0),
		file(ConfigPath[1:], 0o644, conf),
		dir("usr/", 0o755, 0), dir("usr/local/", 0o755, 0), dir("usr/local/bin/", 0o755, 0),
		file(BinaryPath[1:], 0o755, bin),
		dir("var/", 0o755, 0), dir("var/lib/", 0o755, 0), dir(StateDir[1:]+"/", 0o700, UID),
	})
	if err != nil {
		return nil, err
	}
	exposed := map[string]struct{}{}
	for _, p := range ports {
		exposed[p] = struct{}{}
	}
	cfg := &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		RootFS:       v1.RootFS{Type: "layers"}, // Append adds the diff IDs
		Config: v1.Config{
			User:         User,
			Entrypoint:   Entrypoint,
			Cmd:          Cmd,
			Env:          Env,
			WorkingDir:   "/",
			ExposedPorts: exposed,
			StopSignal:   StopSignal,
			Labels: map[string]string{
				"org.opencontainers.image.title":       "sluice",
				"org.opencontainers.image.description": "Sluice load balancer: L4 TCP and L7 HTTP",
				"org.opencontainers.image.source":      Source,
				"org.opencontainers.image.version":     s.Version,
				"org.opencontainers.image.revision":    s.Revision,
				"org.opencontainers.image.created":     created.Format(time.RFC3339),
			},
		},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: created}, CreatedBy: "tools/mkimage: sluice " + s.Version,
		Comment: "static binary, CA certificates, " + ConfigPath + ", user " + User,
	}})
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// staticELF returns the Go architecture of the ELF executable at path, or
// an error when it is not statically linked.
func staticELF(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is not statically linked (it needs a program interpreter): build it with CGO_ENABLED=0 (make build)", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return "", fmt.Errorf("%s is not statically linked (it needs %s): build it with CGO_ENABLED=0 (make build)", path, strings.Join(libs, ", "))
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	}
	return "", fmt.Errorf("%s: unsupported machine %v", path, f.Machine)
}

// listenPorts validates the configuration and returns the ports it listens
// on (admin and frontends) as "PORT/tcp", sorted.
func listenPorts(name string, data []byte) ([]string, error) {
	cfg, err := config.Parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("the image's configuration does not validate:\n%w", err)
	}
	addrs := []string{cfg.Admin.Listen}
	for _, f := range cfg.Frontends {
		addrs = append(addrs, f.Listen)
	}
	var ports []string
	for _, a := range addrs {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p+"/tcp") {
			ports = append(ports, p+"/tcp")
		}
	}
	slices.Sort(ports)
	return ports, nil
}

func countCerts(pemData []byte) int {
	n := 0
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			return n
		}
		if b.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(b.Bytes); err == nil {
				n++
			}
		}
	}
}

// entry is one file or directory of the layer.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte
	dir  bool
}

func dir(name string, mode int64, uid int) entry {
	return entry{name: name, mode: mode, uid: uid, dir: true}
}
func file(name string, mode int64, data []byte) entry {
	return entry{name: name, mode: mode, data: data}
}

// buildLayer writes es into a tar (every mtime t, owners numeric only) and
// returns it as a gzip-compressed OCI layer.
func buildLayer(t time.Time, es []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: t, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}
