package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

type tlsFiles struct{ cert, key, ca string }

// load reads the files into a server and a client configuration that both
// present the node's certificate and verify the other side against the CA.
func (f *tlsFiles) load() (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, nil, fmt.Errorf("load TLS key pair %s, %s: %w", f.cert, f.key, err)
	}
	pem, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, nil, fmt.Errorf("read TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", f.ca)
	}
	server = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
	}
	return server, client, nil
}
