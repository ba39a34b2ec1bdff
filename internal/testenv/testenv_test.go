package testenv

import (
	"net"
	"os/exec"
	"strings"
	"testing"
)

func TestNetnsIsolatedAndRemoved(t *testing.T) {
	var name string
	t.Run("create", func(t *testing.T) {
		a := NewNetns(t, "a")
		b := NewNetns(t, "b")
		name = a.Name
		VethPair(t, a, "va", "10.9.0.1/24", b, "vb", "10.9.0.2/24")
		a.Do(t, func() {
			ifs, err := net.Interfaces()
			if err != nil {
				t.Error(err)
			}
			var names []string
			for _, i := range ifs {
				names = append(names, i.Name)
			}
			if strings.Join(names, ",") != "lo,va" {
				t.Errorf("interfaces inside %s = %v, want lo and va only", a.Name, names)
			}
		})
	})
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), name) {
		t.Fatalf("namespace %s still exists after its test ended", name)
	}
}
