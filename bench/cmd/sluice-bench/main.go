// Command sluice-bench starts demo backends and runs Sluice's benchmark against HAProxy,
// nginx and Caddy.
//
//	sluice-bench backends --http 127.0.0.1:9001,127.0.0.1:9002 --tcp 127.0.0.1:9101
//	sluice-bench run [--quick] [--scenario a,b] [--peers sluice,haproxy] [--out DIR]
//	sluice-bench report DIR
//	sluice-bench traffic [--http URL] [--tcp ADDR] [--rate N]
package main

import (
	"fmt"
	"os"
)

const usage = `usage: sluice-bench <command> [flags]

commands:
  backends   start demo HTTP and TCP backends until SIGINT/SIGTERM
  run        benchmark sluice against haproxy, nginx and caddy
  report DIR recompute the table, results.md and chart.svg from DIR/results.json
  traffic    send steady, varied demo traffic through sluice (make run)
  help       show this text

"sluice-bench <command> -h" shows the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(1)
	}
	var err error
	switch os.Args[1] {
	case "backends":
		err = cmdBackends(os.Args[2:])
	case "run":
		err = cmdRun(os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	case "traffic":
		err = cmdTraffic(os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "sluice-bench: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(1)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sluice-bench:", err)
		os.Exit(1)
	}
}
