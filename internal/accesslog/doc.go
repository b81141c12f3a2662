// Package accesslog owns Sluice's access log: one JSON object per line per
// HTTP request or TCP session, with the fields of contract §5.
//
// Entries are fixed structs (HTTPEntry, TCPEntry) encoded without
// reflection by appending into reused buffers, then handed to one
// background writer through a bounded queue. The data path never blocks
// and, in steady state, never allocates: when the queue is full the line is
// dropped and counted (Options.Dropped, e.g. the
// sluice_access_log_dropped_total counter). The writer drains the queue and
// writes many lines per write call.
//
// Destinations: "stdout", "stderr", "off" (New returns a nil *Logger, which
// is a valid no-op logger) or a file path, opened for append and reopened
// by Reopen (call it on SIGUSR1 after logrotate has renamed the file).
package accesslog
