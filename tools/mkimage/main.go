// Command mkimage builds the Sluice container image from a static sluice
// binary without a Docker daemon (`make image`), with
// github.com/google/go-containerregistry: FROM scratch, one layer with the
// binary, CA certificates, /etc/sluice/sluice.yaml and the non-root user;
// the same image as the Dockerfile's default target. It writes an OCI image
// layout (for skopeo, crane, podman, containerd: `ctr image import`) and a
// tarball that `docker load` takes.
//
//	mkimage -binary bin/sluice -config configs/container.yaml \
//	        -version v1.2.0 -revision 1a2b3c4 \
//	        -layout bin/sluice-image -tar bin/sluice-image.tar
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s Spec
	var layoutDir, tarPath, repo, created string
	fs.StringVar(&s.Binary, "binary", "bin/sluice", "the static sluice binary")
	fs.StringVar(&s.Config, "config", "configs/container.yaml", "the configuration installed as "+ConfigPath)
	fs.StringVar(&s.CABundle, "ca", CAPath, "PEM CA certificates installed as "+CAPath)
	fs.StringVar(&s.Version, "version", "dev", "the version (label org.opencontainers.image.version, image tag)")
	fs.StringVar(&s.Revision, "revision", "unknown", "the commit (label org.opencontainers.image.revision)")
	fs.StringVar(&created, "created", "", "creation time, RFC 3339 (default: $SOURCE_DATE_EPOCH, else now)")
	fs.StringVar(&layoutDir, "layout", "bin/sluice-image", "write an OCI image layout to this directory (empty: none)")
	fs.StringVar(&tarPath, "tar", "bin/sluice-image.tar", "write a `docker load` tarball to this file (empty: none)")
	fs.StringVar(&repo, "repository", "sluice", "the repository of the image's tag (REPOSITORY:VERSION)")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	t, err := creationTime(created)
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: -created: %v\n", err)
		return 1
	}
	s.Created = t
	tag, err := name.NewTag(repo+":"+tagSafe(s.Version), name.WeakValidation)
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	img, err := Build(s)
	if err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	if err := write(img, tag, layoutDir, tarPath); err != nil {
		fmt.Fprintf(stderr, "mkimage: %v\n", err)
		return 1
	}
	d, _ := img.Digest()
	fmt.Fprintf(stdout, "image %s %s\n", tag, d)
	if layoutDir != "" {
		fmt.Fprintf(stdout, "  OCI layout: %s (skopeo copy oci:%s docker://REGISTRY/sluice:%s)\n", layoutDir, layoutDir, tag.TagStr())
	}
	if tarPath != "" {
		fmt.Fprintf(stdout, "  tarball:    %s (docker load -i %s)\n", tarPath, tarPath)
	}
	return 0
}

// write stores img as an OCI layout (replacing one there) and a tarball.
func write(img v1.Image, tag name.Tag, layoutDir, tarPath string) error {
	if layoutDir != "" {
		if err := os.RemoveAll(layoutDir); err != nil {
			return err
		}
		p, err := layout.Write(layoutDir, empty.Index)
		if err != nil {
			return err
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag.TagStr(),
		})); err != nil {
			return err
		}
	}
	if tarPath != "" {
		if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
			return err
		}
	}
	return nil
}

// creationTime parses s (RFC 3339), else $SOURCE_DATE_EPOCH (reproducible
// builds), else returns now.
func creationTime(s string) (time.Time, error) {
	if s != "" {
		return time.Parse(time.RFC3339, s)
	}
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return time.Time{}, errors.New("SOURCE_DATE_EPOCH is not a number of seconds")
		}
		return time.Unix(n, 0), nil
	}
	return time.Now(), nil
}

// tagSafe makes a version usable as an image tag ([A-Za-z0-9_.-], at most
// 128, not starting with . or -).
func tagSafe(v string) string {
	v = regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(v, "-")
	if v == "" || v[0] == '.' || v[0] == '-' {
		v = "v" + v
	}
	if len(v) > 128 {
		v = v[:128]
	}
	return v
}
