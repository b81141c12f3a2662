package l4

import "os"

func readDir(p string) (int, error) {
	e, err := os.ReadDir(p)
	return len(e), err
}
