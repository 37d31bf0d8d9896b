package controller

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mistakes in how the server is started exit 2 with what to do.
func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, nil, 0o644)
	badTemplate := filepath.Join(dir, "runner-pod.yaml")
	os.WriteFile(badTemplate, []byte("spec:\n  containerz: []\n"), 0o644)
	unreachable := filepath.Join(dir, "kubeconfig")
	os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: k, context: {cluster: c, user: u}}]
current-context: k
`), 0o600)
	kube := []string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--kube"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no data dir", []string{"serve"}, "--data DIR is required"},
		{"data dir is a file", []string{"serve", "--data", filepath.Join(file, "sub")}, "data dir " + filepath.Join(file, "sub")},
		{"plain HTTP off loopback", []string{"serve", "--data", dir, "--addr", "0.0.0.0:8420"}, "is not a loopback address: serving tokens and logs there needs TLS"},
		{"cert without key", []string{"serve", "--data", dir, "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"bad address", []string{"serve", "--data", dir, "--addr", "8420"}, "use HOST:PORT"},
		{"unknown scope", []string{"token", "create", "--data", dir, "--name", "x", "--scope", "root"}, `unknown scope "root"`},
		{"unknown flag", []string{"serve", "--dta", dir}, "unknown flag: --dta"},
		{"no kubeconfig", append(kube, "--kubeconfig", filepath.Join(dir, "none")), "--kube: the kubeconfig: "},
		{"unknown kube context", append(kube, "--kubeconfig", unreachable, "--kube-context", "prod"), `context "prod" does not exist`},
		{"unreachable API server", append(kube, "--kubeconfig", unreachable), "--kube: the Kubernetes API server: "},
		{"bad runner template", append(kube, "--runner-template", badTemplate), badTemplate + `: error unmarshaling JSON: while decoding JSON: json: unknown field "containerz"`},
		{"bad runner labels", append(kube, "--runner-labels", "os"), `--runner-labels: label "os": write labels as KEY=VALUE`},
		{"negative warm pool", append(kube, "--warm-runners", "-1"), "--warm-runners -1: use 0 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tc.args, &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

// With a certificate the server speaks HTTPS, and a client that trusts
// the certificate gets through.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{BaseURL: "https://" + ln.Addr().String()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, srv, ln, certFile, keyFile, slog.New(slog.DiscardHandler)) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthz over TLS: %d %q", resp.StatusCode, body)
	}
	if r, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil { // Go's TLS server answers plain HTTP with a 400
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("the TLS server answered plain HTTP")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sparkwing test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
