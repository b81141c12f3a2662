package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"time"
)

// Watch calls changed whenever the content of the file at path changes,
// until ctx is done. It polls every interval (default 250ms), which also
// catches a symlink swap (a Kubernetes ConfigMap update replaces a symlink
// rather than writing the file) and editors that write a new file and
// rename it. A burst of writes is debounced: changed runs once the content
// has been stable for one interval. An unreadable file (mid-swap) is
// skipped until it reads again.
func Watch(ctx context.Context, path string, interval time.Duration, changed func()) {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	last, _ := fileSum(path)
	var pending []byte
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sum, err := fileSum(path)
		if err != nil {
			continue
		}
		switch {
		case bytes.Equal(sum, last):
			pending = nil
		case pending == nil || !bytes.Equal(sum, pending):
			pending = sum // changed; wait one more interval for it to settle
		default:
			last, pending = sum, nil
			changed()
		}
	}
}

// fileSum is the SHA-256 of the file at path (following symlinks).
func fileSum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, 16<<20)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
