package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"github.com/dorivo/dorivo/internal/testcerts"
	"github.com/dorivo/dorivo/internal/testenv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serveAdmin(t *testing.T, o *adminOptions) (addr string, log *testenv.SyncBuffer) {
	t.Helper()
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	log = &testenv.SyncBuffer{}
	metricsBody := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "dorivo_up 1\n") })
	srv, err := startAdmin(o, adminMux(metricsBody, nil, o.pprof), slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// The listener's own address, from the log line ("url=http://ADDR/metrics").
	line := log.String()
	i := strings.Index(line, "://")
	j := strings.Index(line[i:], "/metrics")
	if i < 0 || j < 0 {
		t.Fatalf("no url in the admin log:\n%s", line)
	}
	host := line[i+3 : i+j]
	if h, p, _ := net.SplitHostPort(host); h == "0.0.0.0" || h == "::" {
		host = net.JoinHostPort("127.0.0.1", p)
	}
	return host, log
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestAdminPprofOnlyWithFlag(t *testing.T) {
	for _, on := range []bool{false, true} {
		addr, _ := serveAdmin(t, &adminOptions{addr: "127.0.0.1:0", pprof: on})
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap"} {
			if code, _ := get(t, http.DefaultClient, "http://"+addr+path, ""); code != want {
				t.Errorf("--pprof=%v: GET %s = %d, want %d", on, path, code, want)
			}
		}
		if code, body := get(t, http.DefaultClient, "http://"+addr+"/metrics", ""); code != 200 || body != "dorivo_up 1\n" {
			t.Errorf("--pprof=%v: /metrics = %d %q", on, code, body)
		}
	}
}

func TestAdminBearerToken(t *testing.T) {
	const token = "s3cr3t-t0ken.value"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, log := serveAdmin(t, &adminOptions{addr: "0.0.0.0:0", tokenFile: file, pprof: true})
	base := "http://" + addr
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/metrics", "", 401},
		{"/metrics", "wrong", 401},
		{"/metrics", token + "x", 401},
		{"/metrics", token, 200},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", token, 200},
		{"/healthz", "", 200},
	} {
		if code, _ := get(t, http.DefaultClient, base+tc.path, tc.token); code != tc.want {
			t.Errorf("GET %s with token %q: %d, want %d", tc.path, tc.token, code, tc.want)
		}
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if h := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("401 without WWW-Authenticate: Bearer, got %q", h)
	}
	l := log.String()
	if strings.Contains(l, token) || strings.Contains(l, "without authentication") || !strings.Contains(l, `auth="bearer token"`) {
		t.Errorf("log shows the token, warns although a token is set, or does not name the auth:\n%s", l)
	}
}

func TestAdminWarnsBeyondLoopbackWithoutAuth(t *testing.T) {
	const warning = "admin endpoint is reachable beyond loopback without authentication"
	_, log := serveAdmin(t, &adminOptions{addr: "0.0.0.0:0"})
	if l := log.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, warning) {
		t.Errorf("0.0.0.0 without auth: no warning:\n%s", l)
	}
	_, log = serveAdmin(t, &adminOptions{addr: "0.0.0.0:0", pprof: true})
	if l := log.String(); !strings.Contains(l, "runs the profiler") {
		t.Errorf("0.0.0.0 without auth, pprof on: the warning does not name the profiler:\n%s", l)
	}
	for _, a := range []string{"127.0.0.1:0", "[::1]:0"} {
		if _, log := serveAdmin(t, &adminOptions{addr: a}); strings.Contains(log.String(), warning) {
			t.Errorf("%s: warned for a loopback address:\n%s", a, log.String())
		}
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, both signed by the CA, as PEM files.
type testPKI struct{ caFile, serverCert, serverKey, clientCert, clientKey string }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	ca := testcerts.NewCA(t, t.TempDir(), "dorivo-test")
	p := testPKI{caFile: ca.File}
	p.serverCert, p.serverKey = ca.Issue(t, "server", net.IPv4(127, 0, 0, 1))
	p.clientCert, p.clientKey = ca.Issue(t, "client")
	return p
}

func TestAdminMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	addr, log := serveAdmin(t, &adminOptions{addr: "0.0.0.0:0", tlsCert: pki.serverCert, tlsKey: pki.serverKey, clientCA: pki.caFile})
	if l := log.String(); strings.Contains(l, "without authentication") || !strings.Contains(l, "https://") {
		t.Errorf("mTLS on 0.0.0.0: warned, or not https:\n%s", l)
	}
	caPEM, _ := os.ReadFile(pki.caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	url := "https://" + addr + "/metrics"
	if res, err := client().Get(url); err == nil {
		res.Body.Close()
		t.Fatalf("client without a certificate: %s, want the handshake refused", res.Status)
	}
	// A certificate from another CA is refused too.
	other := newTestPKI(t)
	otherCert, err := tls.LoadX509KeyPair(other.clientCert, other.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := client(otherCert).Get(url); err == nil {
		res.Body.Close()
		t.Fatalf("client certificate of another CA: %s, want refused", res.Status)
	}
	cert, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, client(cert), url, ""); code != 200 || body != "dorivo_up 1\n" {
		t.Fatalf("client with a certificate: %d %q", code, body)
	}
	if code, _ := get(t, http.DefaultClient, "http://"+addr+"/metrics", ""); code == 200 {
		t.Error("plain HTTP served on the mTLS port")
	}
}

// TestAdminFlagErrors: bad admin flags stop the start with one line naming
// the flag, before anything else (no root needed).
func TestAdminFlagErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	spaced := filepath.Join(dir, "spaced")
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	os.WriteFile(spaced, []byte("two words\n"), 0o600)
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600)
	pki := newTestPKI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--admin-token-file", filepath.Join(dir, "missing")}, "--admin-token-file " + filepath.Join(dir, "missing") + ": open"},
		{[]string{"--admin-token-file", empty}, "the file is empty"},
		{[]string{"--admin-token-file", spaced}, "one word of printable ASCII"},
		{[]string{"--admin-tls-cert", pki.serverCert}, "--admin-tls-cert and --admin-tls-key go together"},
		{[]string{"--admin-client-ca", pki.caFile}, "--admin-client-ca needs --admin-tls-cert"},
		{[]string{"--admin-tls-cert", pki.serverCert, "--admin-tls-key", pki.clientKey}, "--admin-tls-cert/--admin-tls-key: tls: private key does not match public key"},
		{[]string{"--admin-tls-cert", pki.serverCert, "--admin-tls-key", pki.serverKey, "--admin-client-ca", notPEM}, "no PEM certificate"},
		{[]string{"--admin-addr", "", "--pprof"}, "--admin-addr is empty"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"agent"}, tc.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("dorivo agent %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tc.args, " "), code, errb.String(), tc.want)
		}
	}
}
