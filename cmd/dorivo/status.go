package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/dorivo/dorivo/userspace/agentconfig"
	"github.com/dorivo/dorivo/userspace/loader"
	"github.com/dorivo/dorivo/userspace/stats"
)

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	pinDir := fs.String("pin-dir", loader.DefaultPinDir, "bpffs directory the agent pinned its maps in")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	configFile := fs.String("config", "", "the agent's JSON config file, to name tenant slots")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9379", "the agent's admin server, for its breakers and raft groups (GET /breakers, /raft); empty skips them")
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
	r, err := readStatusRaft(*adminAddr, *adminToken)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeStatusJSONRaft(stdout, s, sh, r) // raftstatus.go
	}
	if err := s.WriteTable(stdout); err != nil {
		return err
	}
	if err := sh.writeTable(stdout); err != nil {
		return err
	}
	return r.writeTable(stdout, time.Now())
}

// readStatusRaft asks the agent for its raft groups (GET /raft); an agent
// that does not answer is reported in the output, not as an error.
func readStatusRaft(adminAddr, tokenFile string) (*statusRaft, error) {
	if adminAddr == "" {
		return &statusRaft{Error: "skipped (--admin-addr is empty)"}, nil
	}
	token := ""
	if tokenFile != "" {
		t, err := readToken(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-token-file %s: %w", tokenFile, err)
		}
		token = t
	}
	v, err := fetchRaftView(adminAddr, token)
	if err != nil {
		return &statusRaft{Error: err.Error()}, nil
	}
	return &statusRaft{View: v}, nil
}
