package config

import (
	"testing"
)

func TestExpandEnv(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a: ${HOST}:${PORT}\n", "a: 127.0.0.1:8080\n"},
		{"a: ${NOPE:-def}\n", "a: def\n"},
		{"a: ${EMPTY:-def}\n", "a: def\n"},             // empty counts as unset with :-
		{"a: x${EMPTY}y\n", "a: xy\n"},                 // set but empty, no default
		{"a: ${HOST:-}\n", "a: 127.0.0.1\n"},           // set wins over default
		{"a: $$HOST $${HOST}\n", "a: $HOST ${HOST}\n"}, // $$ escapes
		{"a: $5 and $ alone\n", "a: $5 and $ alone\n"}, // lone $ kept
		{"a: ${NOPE:-x:-y}\n", "a: x:-y\n"},
		{"a: 1 # ${NOPE} $$ is kept in comments\n", "a: 1 # ${NOPE} $$ is kept in comments\n"},
		{"# ${NOPE}\na: '#${HOST}'\n", "# ${NOPE}\na: '#127.0.0.1'\n"}, // # inside quotes is no comment
	}
	for _, tc := range cases {
		c := &collector{file: "t.yaml"}
		got, _ := expandEnv([]byte(tc.in), lookup, c)
		if len(c.errs) > 0 || string(got) != tc.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, c.errs.err(), tc.want)
		}
	}
}

func TestExpandEnvErrors(t *testing.T) {
	checkErrs(t, "a: 1\nb: x ${NOPE}\nc: ${ALSO_NOPE} ${HOST}\n",
		"2:6: environment variable NOPE is not set (use ${NOPE:-default} to give a default)",
		"3:4: environment variable ALSO_NOPE is not set (use ${ALSO_NOPE:-default} to give a default)")
	checkErrs(t, "a: ${1X}\nb: ${A B:-c}\n",
		`1:4: invalid environment variable name "1X" in ${1X} (use letters, digits and _; ${VAR} or ${VAR:-default})`,
		`2:4: invalid environment variable name "A B" in ${A B:-c} (use letters, digits and _; ${VAR} or ${VAR:-default})`)
	checkErrs(t, "a: ${HOST\nb: 1\n", "1:4: unterminated ${ in environment reference (use $$ for a literal $)")
}

// Positions after an expansion on the same line, and on later lines, refer
// to the original text.
func TestExpandEnvPositions(t *testing.T) {
	src := `frontends:
  - {name: "${LONG}", listen: "${HOST}:${PORT}", backend: ${LONG}, mode: tcpx}
  - name: x
    listen: ${NOPE:-127.0.0.1:99999}
backends:
  - {name: "é${HOST}", servers: [{address: "${HOST}:1", weight: 300}]}
`
	checkErrs(t, src,
		`2:59: frontends[0].backend: unknown backend "a-much-longer-value"; defined backends: é127.0.0.1`,
		`2:74: frontends[0].mode: unknown value "tcpx": want http, tcp`,
		`4:13: frontends[1].listen: invalid port in "127.0.0.1:99999": want 1..65535`,
		`6:12: backends[0].name: invalid name "é127.0.0.1": use letters, digits, '.', '_' and '-' (at most 128)`,
		`6:65: backends[0].servers[0].weight: must be between 0 and 256, got 300`)
}
