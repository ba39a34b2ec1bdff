package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/dorivo/dorivo/userspace/agentconfig"
	"github.com/dorivo/dorivo/userspace/loader"
	"github.com/dorivo/dorivo/userspace/stats"
)

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	pinDir := fs.String("pin-dir", loader.DefaultPinDir, "bpffs directory the agent pinned its maps in")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	configFile := fs.String("config", "", "the agent's JSON config file, to name tenant slots")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9379", "the agent's admin server, for its breakers (GET /breakers); empty skips them")
	adminToken := fs.String("admin-token-file", "", "file holding the admin server's bearer token")
	var c agentconfig.Config
	fs.Var(listValue[string]{&c.Tenants, func(s string) (string, error) { return s, agentconfig.CheckTag(s) }}, "tenant", "name a tenant tag (repeatable)")
	fs.Var(listValue[agentconfig.Quota]{&c.Quotas, agentconfig.ParseQuota}, "quota", "the agent's --quota values, to name tenant slots (repeatable)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if *configFile != "" {
		f, err := agentconfig.LoadFile(*configFile)
		if err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		if c, err = c.WithFile(f); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
	}
	m, err := stats.OpenPinned(*pinDir)
	if err != nil {
		return err
	}
	defer m.Close()
	s, err := stats.Read(m, c.SlotNames())
	if err != nil {
		return err
	}
	sh, err := readStatusShed(*pinDir, *adminAddr, *adminToken) // shedstatus.go
	if err != nil {
		return err
	}
	if *asJSON {
		return writeStatusJSON(stdout, s, sh)
	}
	if err := s.WriteTable(stdout); err != nil {
		return err
	}
	return sh.writeTable(stdout)
}
