package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// adminMaxConns bounds the admin server's open connections: well within
// minReservedFDs, and plenty for a scraper and a profiler.
const adminMaxConns = 8

// adminOptions configure the admin HTTP server: --admin-addr, --pprof,
// --admin-token-file and --admin-tls-cert/--admin-tls-key/--admin-client-ca.
type adminOptions struct {
	addr  string
	pprof bool
	// tokenFile names the file holding the bearer token; token is its
	// content, read once at start and never logged.
	tokenFile string
	token     string
	// tlsCert and tlsKey make the server HTTPS; clientCA makes it require
	// a client certificate signed by that CA (mTLS).
	tlsCert, tlsKey, clientCA string
	tls                       *tls.Config // built by check; nil: plain HTTP
}

// check validates the admin flags and loads the token and certificates, so
// that a bad file stops the start with one line naming the flag.
func (o *adminOptions) check() error {
	if o.addr == "" {
		if o.tokenFile != "" || o.tlsCert != "" || o.clientCA != "" || o.pprof {
			return errors.New("--admin-addr is empty (no admin server): --pprof, --admin-token-file and --admin-tls-* need one")
		}
		return nil
	}
	if o.tokenFile != "" {
		tok, err := readToken(o.tokenFile)
		if err != nil {
			return fmt.Errorf("--admin-token-file %s: %w", o.tokenFile, err)
		}
		o.token = tok
	}
	switch {
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	case o.clientCA != "" && o.tlsCert == "":
		return errors.New("--admin-client-ca needs --admin-tls-cert and --admin-tls-key (client certificates need TLS)")
	case o.tlsCert == "":
		return nil
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err)
	}
	o.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.clientCA != "" {
		pem, err := os.ReadFile(o.clientCA)
		if err != nil {
			return fmt.Errorf("--admin-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--admin-client-ca %s: no PEM certificate in the file", o.clientCA)
		}
		o.tls.ClientCAs, o.tls.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return nil
}

// readToken reads a bearer token: the file's content without surrounding
// whitespace, non-empty, printable ASCII without spaces (RFC 6750's token68
// is stricter; this only refuses what a header cannot carry).
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("the file is empty")
	}
	for _, c := range []byte(tok) {
		if c <= ' ' || c > '~' {
			return "", errors.New("the token must be one word of printable ASCII")
		}
	}
	return tok, nil
}

// auth names the admin server's authentication for the log.
func (o *adminOptions) auth() string {
	var a []string
	if o.token != "" {
		a = append(a, "bearer token")
	}
	if o.tls != nil && o.tls.ClientAuth == tls.RequireAndVerifyClientCert {
		a = append(a, "client certificate")
	}
	if len(a) == 0 {
		return "none"
	}
	return strings.Join(a, "+")
}

// adminMux builds the admin server's routes: /metrics, /healthz and, with
// pprofOn, Go's profiler under /debug/pprof/. Further endpoints are added
// here (or to the returned mux before it is served).
func adminMux(metrics, alerts http.Handler, pprofOn bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	if alerts != nil {
		mux.Handle("/alerts", alerts)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if pprofOn {
		// For `go tool pprof http://ADMIN/debug/pprof/profile`.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// requireToken wraps h so that every path but /healthz needs
// "Authorization: Bearer TOKEN". The comparison is of SHA-256 digests, in
// constant time, so that neither the token's bytes nor its length leak
// through timing.
func requireToken(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" { // liveness carries no data
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dorivo-admin"`)
			http.Error(w, "401 unauthorized: send Authorization: Bearer <the token in --admin-token-file>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// startAdmin listens on o.addr and serves h there, behind the token and
// TLS o configures, until the returned server is shut down. It warns when
// the address is reachable beyond loopback with neither a token nor
// client certificates.
func startAdmin(o *adminOptions, h http.Handler, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("--admin-addr %s: %w", o.addr, err)
	}
	// Bounded, so that scrapes can never take the descriptors reserved
	// beside maxclients (rlimit.go): further connections wait in the backlog.
	ln = netutil.LimitListener(ln, adminMaxConns)
	if o.token != "" {
		h = requireToken(o.token, h)
	}
	scheme := "http"
	if o.tls != nil {
		ln, scheme = tls.NewListener(ln, o.tls), "https"
	}
	// Idle keep-alive connections are closed, so that they cannot hold
	// the adminMaxConns slots for good.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, TLSConfig: o.tls,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", "err", err)
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	if !addr.IP.IsLoopback() && o.auth() == "none" {
		log.Warn("admin endpoint is reachable beyond loopback without authentication: anyone who can connect reads /metrics (tenant names and traffic)"+pprofNote(o.pprof)+"; set --admin-token-file or --admin-client-ca, or bind --admin-addr to 127.0.0.1",
			"addr", addr.String())
	}
	log.Info("serving metrics", "url", scheme+"://"+addr.String()+"/metrics", "auth", o.auth(), "pprof", o.pprof)
	return srv, nil
}

func pprofNote(on bool) string {
	if on {
		return " and runs the profiler (/debug/pprof)"
	}
	return ""
}
