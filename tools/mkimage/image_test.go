package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sluicelb/sluice/internal/config"
)

const (
	testVersion  = "v9.9.9-test"
	testRevision = "0123abc"
	testCreated  = "2026-12-01T10:00:00Z"
)

// sluiceBin is a static sluice built as `make build` builds it; tmpDir
// lives as long as the test binary.
var sluiceBin, tmpDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-image-test")
	if err != nil {
		panic(err)
	}
	tmpDir, sluiceBin = dir, filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+testVersion+" -X main.commit="+testRevision,
		"-o", sluiceBin, "../../cmd/sluice")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// caBundle is the system's CA bundle (what `make image` takes), or a
// generated one where the system has none.
func caBundle(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(CAPath); err == nil {
		return CAPath
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return p
}

// built is one run of mkimage.
type built struct {
	layout, tar, ca string
	img             v1.Image
}

var (
	sharedOnce sync.Once
	shared     built
)

// sharedImage is one buildImage for the tests that only read it (building
// compresses megabytes: slow under the race detector).
func sharedImage(t *testing.T) built {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp(tmpDir, "shared")
		if err != nil {
			t.Fatal(err)
		}
		shared = buildImageIn(t, dir)
	})
	if shared.img == nil {
		t.Fatal("the shared image was not built")
	}
	return shared
}

// buildImage runs mkimage as `make image` does, into a temp directory, and
// reads the image back from the OCI layout.
func buildImage(t *testing.T) built {
	t.Helper()
	return buildImageIn(t, t.TempDir())
}

func buildImageIn(t *testing.T, dir string) built {
	t.Helper()
	b := built{layout: filepath.Join(dir, "layout"), tar: filepath.Join(dir, "sluice.tar"), ca: caBundle(t)}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-binary", sluiceBin, "-config", "../../configs/container.yaml", "-ca", b.ca,
		"-version", testVersion, "-revision", testRevision, "-created", testCreated,
		"-layout", b.layout, "-tar", b.tar}, &stdout, &stderr); code != 0 {
		t.Fatalf("mkimage: exit %d\n%s", code, stderr.String())
	}
	p, err := layout.FromPath(b.layout)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("layout index: %v %+v", err, im)
	}
	if ref := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != testVersion {
		t.Errorf("ref.name annotation %q", ref)
	}
	b.img, err = idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImageConfig checks how the image runs: user, entrypoint, command,
// ports, stop signal, labels with version and commit, OCI media types.
func TestImageConfig(t *testing.T) {
	b := sharedImage(t)
	if mt, _ := b.img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s", mt)
	}
	cf, err := b.img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || cf.RootFS.Type != "layers" || len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("platform %s/%s rootfs %+v", cf.OS, cf.Architecture, cf.RootFS)
	}
	if c.User != "65532:65532" {
		t.Errorf("User %q, want the non-root 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/sluice"}) || !slices.Equal(c.Cmd, []string{"run"}) {
		t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
	}
	if !slices.Contains(c.Env, "SLUICE_CONFIG=/etc/sluice/sluice.yaml") {
		t.Errorf("Env %q", c.Env)
	}
	for _, e := range c.Env { // the image overrides no setting: a mounted file's values hold
		for _, s := range config.Settings {
			if strings.HasPrefix(e, s.Env+"=") {
				t.Errorf("Env sets %s", e)
			}
		}
	}
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []string{"8080/tcp", "9900/tcp"}) {
		t.Errorf("ExposedPorts %v", ports)
	}
	if c.StopSignal != "SIGTERM" {
		t.Errorf("StopSignal %q", c.StopSignal)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.source":   "https://github.com/sluicelb/sluice",
		"org.opencontainers.image.created":  testCreated,
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s=%q, want %q", k, got, want)
		}
	}
	if !cf.Created.Time.Equal(mustTime(testCreated)) {
		t.Errorf("created %v", cf.Created)
	}
	// The tarball holds the same image, tagged sluice:VERSION for docker load.
	ti, err := tarball.ImageFromPath(b.tar, nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := b.img.Digest()
	if c1, c2 := mustConfigName(t, b.img), mustConfigName(t, ti); c1 != c2 {
		t.Errorf("tarball config %s, layout %s (%s)", c2, c1, d1)
	}
	if m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(b.tar) }); err != nil || len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{"sluice:" + testVersion}) {
		t.Errorf("tarball manifest %+v %v", m, err)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustConfigName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// layerFiles reads the image's only layer: path → header and content.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatalf("layers: %v %d", err, len(ls))
	}
	if mt, _ := ls[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
	rc, err := ls[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		hdrs["/"+strings.TrimSuffix(h.Name, "/")], data["/"+strings.TrimSuffix(h.Name, "/")] = h, b
	}
}

// TestImageFiles checks the layer: the binary is the static one given,
// byte for byte, and reports the version and commit the labels carry; the
// CA bundle, the user database, the configuration and the state directory.
func TestImageFiles(t *testing.T) {
	b := sharedImage(t)
	hdrs, data := layerFiles(t, b.img)

	bin, _ := os.ReadFile(sluiceBin)
	if h := hdrs["/usr/local/bin/sluice"]; h == nil || h.Mode != 0o755 || h.Uid != 0 || sha256.Sum256(data["/usr/local/bin/sluice"]) != sha256.Sum256(bin) {
		t.Fatalf("/usr/local/bin/sluice missing, not 0755 root, or not the binary given: %+v", h)
	}
	extracted := filepath.Join(t.TempDir(), "sluice")
	os.WriteFile(extracted, data["/usr/local/bin/sluice"], 0o755)
	if arch, err := staticELF(extracted); err != nil || arch != runtime.GOARCH {
		t.Fatalf("the binary in the layer: %v %s", err, arch)
	}
	out, err := exec.Command(extracted, "version").Output()
	if err != nil || !strings.Contains(string(out), testVersion) || !strings.Contains(string(out), "commit "+testRevision) {
		t.Fatalf("sluice version from the layer: %q %v", out, err)
	}

	ca, _ := os.ReadFile(b.ca)
	if !bytes.Equal(data[CAPath], ca) || countCerts(data[CAPath]) == 0 {
		t.Errorf("%s is not the CA bundle", CAPath)
	}
	if !strings.Contains(string(data["/etc/passwd"]), "\nsluice:x:65532:65532:sluice:/var/lib/sluice:/sbin/nologin\n") ||
		!strings.Contains(string(data["/etc/group"]), "sluice:x:65532:") {
		t.Errorf("passwd %q group %q", data["/etc/passwd"], data["/etc/group"])
	}
	conf, _ := os.ReadFile("../../configs/container.yaml")
	if !bytes.Equal(data[ConfigPath], conf) {
		t.Errorf("%s is not configs/container.yaml", ConfigPath)
	}
	cfg, err := config.Parse(ConfigPath, data[ConfigPath])
	if err != nil {
		t.Fatalf("the image's configuration: %v", err)
	}
	if cfg.Admin.Listen != "0.0.0.0:9900" || cfg.Frontends[0].Listen != "0.0.0.0:8080" || cfg.Admin.StateDir != StateDir {
		t.Errorf("configuration: admin %+v frontend %s", cfg.Admin, cfg.Frontends[0].Listen)
	}
	if h := hdrs[StateDir]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != UID || h.Gid != UID || h.Mode != 0o700 {
		t.Errorf("%s: %+v, want a 0700 directory of %d", StateDir, h, UID)
	}
	for name, h := range hdrs { // parents come before children; times are the creation time
		if dir := filepath.Dir(name); dir != "/" && hdrs[dir] == nil {
			t.Errorf("%s has no parent directory entry", name)
		}
		if !h.ModTime.Equal(mustTime(testCreated)) {
			t.Errorf("%s mtime %v", name, h.ModTime)
		}
	}
}

// TestImageReproducibleAndRefusals: the same input gives the same digest;
// a dynamic binary, an invalid configuration or an empty CA bundle is
// refused with a message saying why.
func TestImageReproducibleAndRefusals(t *testing.T) {
	d1, _ := sharedImage(t).img.Digest()
	d2, _ := buildImage(t).img.Digest()
	if d1 != d2 {
		t.Fatalf("two builds: %s and %s", d1, d2)
	}
	dir := t.TempDir()
	badConf := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badConf, []byte("frontends: []\n"), 0o644)
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o644)
	spec := Spec{Binary: sluiceBin, Config: "../../configs/container.yaml", CABundle: caBundle(t), Version: "v", Revision: "r"}
	dynamic := spec
	dynamic.Binary = "/bin/sh" // Debian's dash: dynamically linked
	if _, err := staticELF(dynamic.Binary); err != nil {
		if _, err := Build(dynamic); err == nil || !strings.Contains(err.Error(), "not statically linked") {
			t.Errorf("dynamic binary: %v", err)
		}
	}
	bc := spec
	bc.Config = badConf
	if _, err := Build(bc); err == nil || !strings.Contains(err.Error(), "frontends: at least one frontend is required") {
		t.Errorf("invalid configuration: %v", err)
	}
	nc := spec
	nc.CABundle = empty
	if _, err := Build(nc); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("empty CA bundle: %v", err)
	}
}
