// Package arch has no code of its own: its tests hold the repository to
// the structure docs/architecture.md describes.
//
//   - imports_test.go: imports point down, cmd → internal/app →
//     l4/l7/internal/admin/internal/config/internal/guard → leaves, and the
//     bans between leaves (balance imports no network or metrics package,
//     health never imports balance, ...).
//   - allocs_test.go: every testing.AllocsPerRun test is built !race and
//     named …Alloc…, so that make test's non-race pass (go test -run Alloc)
//     runs it; the race pass cannot (race instrumentation allocates).
//   - docs_test.go: every package and function docs/architecture.md names
//     exists, and its package diagram covers every package.
package arch
