package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sluicelb/sluice/internal/auth"
)

// cmdHashPassword reads a password on stdin and prints its bcrypt hash
// (cost 12) for admin.users. On a terminal it prompts twice without echo;
// otherwise it reads stdin whole and drops one trailing newline, so that
// `echo "$PW" | sluice hash-password` and `sluice hash-password < file`
// work.
func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "sluice hash-password: unexpected argument %q (the password is read from stdin)\n", args[0])
		return 1
	}
	var pw []byte
	var err error
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		pw, err = promptTwice(f, stderr)
	} else {
		pw, err = io.ReadAll(io.LimitReader(stdin, 4096))
		pw = bytes.TrimSuffix(pw, []byte("\n"))
		pw = bytes.TrimSuffix(pw, []byte("\r"))
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice hash-password: %v\n", err)
		return 1
	}
	h, err := auth.HashPassword(pw)
	if err != nil {
		fmt.Fprintf(stderr, "sluice hash-password: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// promptTwice reads the password twice from the terminal with echo off.
func promptTwice(f *os.File, stderr io.Writer) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	r := bufio.NewReader(f)
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(stderr, prompt)
		line, err := r.ReadBytes('\n')
		fmt.Fprintln(stderr)
		if err != nil && len(line) == 0 {
			return nil, fmt.Errorf("no password read: %w", err)
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
	a, err := read("Password: ")
	if err != nil {
		return nil, err
	}
	b, err := read("Again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a, b) {
		return nil, fmt.Errorf("the passwords differ")
	}
	return a, nil
}
