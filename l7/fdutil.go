package l7

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// dupFD duplicates fd with close-on-exec set.
func dupFD(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("dup fd %d: %w", fd, err)
	}
	return nfd, nil
}

func bufioReaderSize(r io.Reader, n int) *bufio.Reader {
	return bufio.NewReaderSize(r, max(n, 4096))
}

var strAuthorization = []byte("Authorization")

// appendBasicAuth appends "Basic base64(user:password)".
func appendBasicAuth(dst, user, password []byte) []byte {
	raw := make([]byte, 0, len(user)+len(password)+1)
	raw = append(append(append(raw, user...), ':'), password...)
	dst = append(dst, "Basic "...)
	n := base64.StdEncoding.EncodedLen(len(raw))
	dst = append(dst, make([]byte, n)...)
	base64.StdEncoding.Encode(dst[len(dst)-n:], raw)
	return dst
}
