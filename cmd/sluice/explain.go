package main

import (
	"io"
)

func cmdExplain(args []string, stdout, stderr io.Writer) int {
	return 1
}
