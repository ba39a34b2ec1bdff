package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: dorivo <command> [flags]

commands:
  agent    load, attach and run the node agent (root)
  status   print the counters of a running or crashed agent from its pinned maps

Run 'dorivo <command> -h' for the flags of a command.
`

// errUsage marks errors already explained to the user with a usage line.
var errUsage = errors.New("usage")

// run is main without the process: it returns the exit status (0 ok,
// 1 failure, 2 bad usage), so tests drive it directly.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "agent":
		err = runAgent(args[1:], stderr)
	case "status":
		err = runStatus(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "dorivo: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "dorivo %s: %v\n", args[0], err)
		return 1
	}
}

// parse parses args into fs and turns a flag error into one line naming
// the flag, followed by a pointer to -h rather than the whole usage.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return err
		}
		fmt.Fprintf(stderr, "dorivo %s: %v (see dorivo %s -h)\n", fs.Name(), err, fs.Name())
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dorivo %s: unexpected argument %q (see dorivo %s -h)\n", fs.Name(), fs.Arg(0), fs.Name())
		return errUsage
	}
	return nil
}
