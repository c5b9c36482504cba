// Command mip4d is the Mobile IPv4 daemon: home agent, foreign agent, local
// mobile node proxy and mobile node in one binary (DESIGN.md §2).
//
// This is a placeholder until the roles are wired in: it answers
// "mip4d version" and prints a usage message otherwise.
package main

import (
	"fmt"
	"os"
)

// version is set at link time: -ldflags '-X main.version=...'.
var version = "dev"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		fmt.Printf("mip4d %s\n", version)
		return
	}
	fmt.Fprintln(os.Stderr, "usage: mip4d version")
	os.Exit(2)
}
