// Package confedit changes a configuration file's text the way an operator
// would: by splicing the new value into the text at the positions the YAML
// parser recorded, never by re-printing the document. Comments, key order,
// anchors, quoting and every untouched line stay byte for byte, so `git
// diff` of the file shows just the change. Every change the admin API makes
// (internal/app's change path) is an edit of the text, which is then parsed,
// validated and applied like a reload.
//
// An [Edit] is plain data (JSON): set a value, append a list item, remove a
// key or item, at a path such as
// backends[name=web].servers[address=10.0.0.1:80].weight. New keys and items
// are written in the style around them: block or flow, the file's
// indentation, its line breaks, the quoting a scalar needs. [SetServer],
// [AddServer] and [RemoveServer] build the admin API's edits.
//
// Refusals, rather than surprises: a value that came from ${VAR} cannot be
// written back (ErrVar); a node shared through a YAML anchor that an alias or
// merge uses elsewhere is not changed in place (ErrAlias) — except that a key
// a mapping only gets through a << merge is set by adding an own key, which
// overrides the merge and leaves the anchor alone. After every edit the new
// text is parsed again and its value (aliases and merges resolved) must equal
// the old value with exactly the intended change; otherwise the edit is
// refused with ErrUnsupported and nothing is written.
//
// [WriteFileAtomic] writes the result (temporary file, fsync, rename, fsync
// of the directory; symlinks followed; read-only files reported as
// ErrReadOnly so the caller can keep the edits as an overlay).
//
// The package is safe for concurrent use (it keeps no state).
package confedit
