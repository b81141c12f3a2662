package confedit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrReadOnly is returned (wrapped) by WriteFileAtomic when the file, its
// directory or its file system cannot be written. The error also matches
// fs.ErrPermission.
var ErrReadOnly = errors.New("configuration file is read-only")

type readOnlyError struct {
	path string
	why  string
	err  error
}

func (e *readOnlyError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: read-only (%s): %v", e.path, e.why, e.err)
	}
	return fmt.Sprintf("%s: read-only (%s)", e.path, e.why)
}
func (e *readOnlyError) Unwrap() error { return e.err }
func (e *readOnlyError) Is(target error) bool {
	return target == ErrReadOnly || target == fs.ErrPermission
}

// WriteFileAtomic replaces the file at path with data so that a reader (or
// a crash) sees either the old or the new content, never a mix: it writes a
// temporary file in the same directory, syncs it, renames it over the file
// and syncs the directory. The file's mode (and, when permitted, owner) is
// kept. A symbolic link is followed to the real file, so a ConfigMap-style
// mount (name → ..data/name, ..data → a timestamped directory) has that
// file replaced and the links kept. A file without write permission bits,
// a directory without them, or a read-only file system gives an error
// matching ErrReadOnly and fs.ErrPermission; nothing is changed then.
func WriteFileAtomic(path string, data []byte) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	dir := filepath.Dir(real)
	if fi.Mode().Perm()&0o222 == 0 {
		return &readOnlyError{path: path, why: fmt.Sprintf("file mode %v", fi.Mode().Perm())}
	}
	if di, err := os.Stat(dir); err == nil && di.Mode().Perm()&0o222 == 0 {
		return &readOnlyError{path: path, why: fmt.Sprintf("directory %s mode %v", dir, di.Mode().Perm())}
	}
	ro := func(err error) error {
		if isReadOnly(err) {
			return &readOnlyError{path: path, why: "cannot write", err: err}
		}
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(real)+".tmp-*")
	if err != nil {
		return ro(err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return ro(err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return ro(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(st.Uid), int(st.Gid)) // best effort: only root may give a file away
	}
	if err := tmp.Sync(); err != nil {
		return ro(err)
	}
	if err := tmp.Close(); err != nil {
		return ro(err)
	}
	if err := os.Rename(name, real); err != nil {
		return ro(err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		_ = d.Close()
		if err != nil && !errors.Is(err, syscall.EINVAL) {
			return fmt.Errorf("%s: written, but syncing its directory failed: %w", path, err)
		}
	}
	return nil
}

func isReadOnly(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}
