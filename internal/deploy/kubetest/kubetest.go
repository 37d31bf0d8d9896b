// Package kubetest runs a real single-node Kubernetes cluster for the
// deploy tests: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and a kubelet on containerd and runc, all on 127.0.0.1
// (the recipe of ../shared/kube/README.md). The Kubernetes binaries come
// from $SPARKWING_TEST_KUBE (scripts/test-tools.sh builds them), the rest
// from Debian's packages.
//
// A kubelet is one per machine (cgroups, mounts, sysctls), so a machine-wide
// lock lets one cluster run at a time; a test binary that finds another's
// leftovers (it was killed) cleans them up first. Stop undoes what the
// kubelet changed on the host.
//
// Where a component is missing the tests skip with the command that fixes
// it, unless SPARKWING_REQUIRE_KUBE_TESTS=1 (set by scripts/test.sh).
package kubetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/mounts"
)

// Dir is where the cluster keeps its state: one place, so the leftovers of
// a killed test binary are found and cleaned by the next.
const Dir = "/var/tmp/sparkwing-kubetest"

// PauseImage is the sandbox image, imported into containerd (nothing is
// pulled for it).
const PauseImage = "sparkwing.test/pause:1"

// Cluster is a running cluster.
type Cluster struct {
	Kubeconfig string // admin kubeconfig, context "sparkwing-test"
	Context    string
	Server     string // https://127.0.0.1:PORT
	Registry   string // the plain-HTTP registry containerd pulls from
	Kubectl    string // the kubectl binary

	bin     string
	procs   []*exec.Cmd
	lock    *os.File
	sysctls map[string]string
}

var (
	once    sync.Once
	shared  *Cluster
	sharedE error
)

// Require returns the process's cluster, starting it on first use with
// containerd pulling from registry (host:port, plain HTTP), or skips
// (fails, under SPARKWING_REQUIRE_KUBE_TESTS=1) when it cannot run.
func Require(t testing.TB, registry string) *Cluster {
	t.Helper()
	once.Do(func() { shared, sharedE = Start(registry) })
	if sharedE != nil {
		if os.Getenv("SPARKWING_REQUIRE_KUBE_TESTS") == "1" {
			t.Fatalf("kubernetes test cluster: %v", sharedE)
		}
		t.Skipf("kubernetes test cluster unavailable: %v", sharedE)
	}
	if shared.Registry != registry {
		t.Fatalf("the cluster pulls from %s, not %s: one registry a test binary", shared.Registry, registry)
	}
	return shared
}

// StopShared stops what Require started; a later Require starts it
// again.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
	once, shared, sharedE = sync.Once{}, nil, nil
}

// Start starts a cluster in Dir.
func Start(registry string) (*Cluster, error) {
	bin := os.Getenv("SPARKWING_TEST_KUBE")
	if bin == "" {
		return nil, errors.New("SPARKWING_TEST_KUBE is not set: eval \"$(scripts/test-tools.sh)\" builds the Kubernetes binaries and sets it")
	}
	for _, p := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, p)); err != nil {
			return nil, fmt.Errorf("%s is missing from %s: run scripts/test-tools.sh", p, bin)
		}
	}
	for _, p := range []string{"etcd", "containerd", "ctr", "runc", "iptables"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("%s is not installed: run scripts/test-tools.sh", p)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/loopback"); err != nil {
		return nil, errors.New("the CNI plugins are not installed: run scripts/test-tools.sh")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a kubelet needs root")
	}
	if err := os.MkdirAll(filepath.Dir(Dir), 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(Dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		return nil, err
	}
	c := &Cluster{bin: bin, lock: lock, Registry: registry, Kubectl: filepath.Join(bin, "kubectl"), Context: "sparkwing-test"}
	cleanHost(nil) // a killed test binary's leftovers
	c.sysctls = readSysctls()
	if err := c.start(); err != nil {
		logs := c.tailLogs()
		c.Stop()
		return nil, fmt.Errorf("%w%s", err, logs)
	}
	return c, nil
}

type ports struct{ etcd, etcdPeer, etcdMetrics, api, kubelet, kubeletHealthz, cm, sched int }

func (c *Cluster) start() error {
	for _, d := range []string{"pki", "etcd", "logs", "cni", "containerd/root", "containerd/state", "kubelet", "podlogs"} {
		if err := os.MkdirAll(filepath.Join(Dir, d), 0o755); err != nil {
			return err
		}
	}
	var p ports
	for _, at := range []*int{&p.etcd, &p.etcdPeer, &p.etcdMetrics, &p.api, &p.kubelet, &p.kubeletHealthz, &p.cm, &p.sched} {
		port, err := freePort()
		if err != nil {
			return err
		}
		*at = port
	}
	token, err := c.writeConfig(p)
	if err != nil {
		return err
	}
	pki := func(f string) string { return filepath.Join(Dir, "pki", f) }
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", p.etcd)
	if err := c.run("etcd", "etcd", "--data-dir", filepath.Join(Dir, "etcd"), "--name", "sparkwing-test",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", p.etcdPeer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", p.etcdPeer),
		"--initial-cluster", fmt.Sprintf("sparkwing-test=http://127.0.0.1:%d", p.etcdPeer),
		"--listen-metrics-urls", fmt.Sprintf("http://127.0.0.1:%d", p.etcdMetrics)); err != nil {
		return err
	}
	if err := c.run("containerd", "containerd", "--config", filepath.Join(Dir, "containerd.toml")); err != nil {
		return err
	}
	if err := c.wait("etcd", func(ctx context.Context) error { return httpOK(ctx, http.DefaultClient, etcdURL+"/health", "") }); err != nil {
		return err
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", p.api)
	if err := c.run("kube-apiserver", filepath.Join(c.bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(p.api),
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--client-ca-file="+pki("ca.crt"), "--token-auth-file="+pki("tokens.csv"),
		"--authorization-mode=AlwaysAllow",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24", "--endpoint-reconciler-type=none",
		"--kubelet-preferred-address-types=Hostname", "--profiling=false"); err != nil {
		return err
	}
	ca, err := os.ReadFile(pki("ca.crt"))
	if err != nil {
		return err
	}
	api := apiClient(ca)
	if err := c.wait("kube-apiserver", func(ctx context.Context) error { return httpOK(ctx, api, c.Server+"/readyz", token) }); err != nil {
		return err
	}
	kc := "--kubeconfig=" + c.Kubeconfig
	if err := c.run("kube-controller-manager", filepath.Join(c.bin, "kube-controller-manager"), kc,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(p.cm), "--leader-elect=false",
		"--service-account-private-key-file="+pki("sa.key"), "--root-ca-file="+pki("ca.crt"),
		"--use-service-account-credentials=false"); err != nil {
		return err
	}
	if err := c.run("kube-scheduler", filepath.Join(c.bin, "kube-scheduler"), kc,
		"--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(p.sched), "--leader-elect=false"); err != nil {
		return err
	}
	if err := c.importPause(); err != nil {
		return err
	}
	if err := c.run("kubelet", filepath.Join(c.bin, "kubelet"), "--config="+filepath.Join(Dir, "kubelet.yaml"), kc,
		"--hostname-override=localhost", "--root-dir="+filepath.Join(Dir, "kubelet"),
		"--cert-dir="+filepath.Join(Dir, "kubelet", "pki")); err != nil {
		return err
	}
	return c.wait("node localhost Ready", func(ctx context.Context) error {
		out, err := c.KubectlOut(ctx, "get", "node", "localhost", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "True" {
			return fmt.Errorf("Ready is %q", out)
		}
		return nil
	})
}

// writeConfig writes the PKI, the kubeconfig and the components' configs;
// it returns the admin token.
func (c *Cluster) writeConfig(p ports) (string, error) {
	tok := make([]byte, 16)
	rand.Read(tok)
	token := hex.EncodeToString(tok)
	pki := filepath.Join(Dir, "pki")
	caCert, caKey, err := writeCA(pki)
	if err != nil {
		return "", err
	}
	if err := writeServing(pki, caCert, caKey); err != nil {
		return "", err
	}
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	files := map[string][]byte{
		"pki/sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(sa)}),
		"pki/sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"pki/tokens.csv": []byte(token + ",admin,admin,system:masters\n"),
		"kubeconfig": fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: sparkwing-test
  cluster: {server: "https://127.0.0.1:%d", certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: sparkwing-test
  context: {cluster: sparkwing-test, user: admin, namespace: default}
current-context: sparkwing-test
`, p.api, filepath.Join(pki, "ca.crt"), token),
		"containerd.toml": fmt.Appendf(nil, `version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = "%[3]s.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[4]q
  stream_server_address = "127.0.0.1"
  restrict_oom_score_adj = true # root here has no CAP_SYS_RESOURCE
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[5]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[6]q
`, filepath.Join(Dir, "containerd/root"), filepath.Join(Dir, "containerd/state"), c.socket(), PauseImage,
			filepath.Join(Dir, "cni"), filepath.Join(Dir, "certs.d")),
		"cni/10-loopback-only.conflist":         []byte(`{"cniVersion": "0.4.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]}` + "\n"),
		"certs.d/" + c.Registry + "/hosts.toml": fmt.Appendf(nil, "server = \"http://%[1]s\"\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", c.Registry),
		"kubelet.yaml": fmt.Appendf(nil, `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
containerRuntimeEndpoint: unix://%s
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
registerNode: true
serializeImagePulls: false
rotateCertificates: false
resolvConf: /etc/resolv.conf
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 10s
evictionHard: {memory.available: "200Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
podLogsDir: %s
volumePluginDir: %s
`, p.kubelet, p.kubeletHealthz, c.socket(), filepath.Join(Dir, "podlogs"), filepath.Join(Dir, "kubelet/volume-plugins")),
	}
	for name, data := range files {
		f := filepath.Join(Dir, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(f, data, 0o600); err != nil {
			return "", err
		}
	}
	c.Kubeconfig = filepath.Join(Dir, "kubeconfig")
	return token, nil
}

func (c *Cluster) socket() string { return filepath.Join(Dir, "containerd/state/containerd.sock") }

func writeCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sparkwing-test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, writePair(dir, "ca", der, key)
}

func writeServing(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	return writePair(dir, "apiserver", der, key)
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// run starts a component in its own session, its output to logs/NAME.log.
func (c *Cluster) run(name, bin string, args ...string) error {
	log, err := os.Create(filepath.Join(Dir, "logs", name+".log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	os.WriteFile(filepath.Join(Dir, "logs", name+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	return nil
}

func (c *Cluster) wait(what string, ready func(context.Context) error) error {
	deadline := time.Now().Add(120 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 120 s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// KubectlOut runs kubectl against the cluster and returns its output.
func (c *Cluster) KubectlOut(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out.String(), nil
}

func (c *Cluster) tailLogs() string {
	var b strings.Builder
	for _, cmd := range c.procs {
		name := filepath.Base(cmd.Path)
		data, _ := os.ReadFile(filepath.Join(Dir, "logs", name+".log"))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "\n--- %s (last lines)\n%s", name, strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
	return b.String()
}

// Stop deletes the workloads, stops every component (kubelet first, so no
// pod is restarted; etcd last) and undoes what the kubelet changed on the
// host.
func (c *Cluster) Stop() {
	if c.Kubeconfig != "" && len(c.procs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c.KubectlOut(ctx, "delete", "deployments,statefulsets,daemonsets,replicasets,pods,jobs", "--all", "--all-namespaces", "--grace-period=1", "--wait=false")
		cancel()
	}
	byName := map[string]*exec.Cmd{}
	for _, cmd := range c.procs {
		byName[filepath.Base(cmd.Path)] = cmd
	}
	stop := func(name string) {
		if cmd := byName[name]; cmd != nil {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
	}
	stop("kubelet")
	c.killContainers()
	for _, name := range []string{"containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		stop(name)
	}
	c.procs = nil
	cleanHost(c.sysctls)
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// killContainers kills the pods' containers through containerd, while it
// still runs.
func (c *Cluster) killContainers() {
	ctr := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, "ctr", append([]string{"-a", c.socket(), "-n", "k8s.io"}, args...)...).Output()
		return string(out)
	}
	tasks := strings.Fields(ctr("tasks", "ls", "-q"))
	for _, t := range tasks {
		ctr("tasks", "kill", "-s", "KILL", t)
	}
	for _, t := range tasks {
		ctr("tasks", "delete", "-f", t)
	}
	if ids := strings.Fields(ctr("containers", "ls", "-q")); len(ids) > 0 {
		ctr(append([]string{"containers", "rm"}, ids...)...)
	}
}

// ErrRunning is Clean's when a cluster runs: it holds the machine lock
// (and it cleaned what an earlier one left when it started).
var ErrRunning = errors.New("a cluster is running (a test, or kube-cluster up)")

// Clean undoes what a cluster that was killed left on the host (see
// cleanHost), unless another cluster runs now.
func Clean() error {
	if err := os.MkdirAll(filepath.Dir(Dir), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(Dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return ErrRunning
	}
	cleanHost(nil)
	return nil
}

// cleanHost undoes what a cluster in Dir leaves on the host, whether it was
// stopped or killed: its processes (by the pids recorded and the shims
// serving its containerd), mounts under Dir, the kubepods cgroups, KUBE-*
// iptables chains, its log links, and the kubelet's sysctls (restored to
// saved, when known).
func cleanHost(saved map[string]string) {
	for _, name := range []string{"kubelet", "containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		data, err := os.ReadFile(filepath.Join(Dir, "logs", name+".pid"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(string(data)); err == nil && sameProgram(pid, name) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Remove(filepath.Join(Dir, "logs", name+".pid"))
	}
	killShims()
	removeLogLinks()
	mounts.UnmountUnder(Dir)
	removeCgroups()
	cleanIptables()
	for k, v := range saved {
		os.WriteFile("/proc/sys/"+strings.ReplaceAll(k, ".", "/"), []byte(v), 0o644)
	}
	if err := os.RemoveAll(Dir); err != nil {
		fmt.Fprintf(os.Stderr, "kubetest: cleaning %s: %v\n", Dir, err)
	}
}

func sameProgram(pid int, name string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && filepath.Base(exe) == name
}

// killShims kills the containerd-shim processes serving this cluster's
// containerd (they outlive it) and their containers.
func killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte("containerd-shim")) || !bytes.Contains(data, []byte(Dir)) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, ch := range strings.Fields(string(children)) {
			if cpid, err := strconv.Atoi(ch); err == nil {
				syscall.Kill(cpid, syscall.SIGKILL)
			}
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// removeLogLinks removes the kubelet's links in /var/log/containers to
// this cluster's pod logs, and the directory when that leaves it empty.
func removeLogLinks() {
	const dir = "/var/log/containers"
	links, _ := os.ReadDir(dir)
	for _, l := range links {
		p := filepath.Join(dir, l.Name())
		if to, err := os.Readlink(p); err == nil && strings.HasPrefix(to, Dir+"/") {
			os.Remove(p)
		}
	}
	os.Remove(dir) // only if empty
}

// removeCgroups removes the kubepods cgroups the kubelet made, depth first
// (cgroup v1: one tree a controller).
func removeCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if u, err := filepath.Glob("/sys/fs/cgroup/kubepods*"); err == nil {
		roots = append(roots, u...) // cgroup v2
	}
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
}

// cleanIptables deletes the KUBE-* chains and the rules that jump to them
// (the kubelet makes them even with makeIPTablesUtilChains off, for its
// canary).
func cleanIptables() {
	for _, tool := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, err := exec.Command(tool, "-w", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			var chains []string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 2 && f[0] == "-N" && strings.HasPrefix(f[1], "KUBE-"):
					chains = append(chains, f[1])
				case len(f) >= 2 && f[0] == "-A" && strings.Contains(line, "KUBE-") && !strings.HasPrefix(f[1], "KUBE-"):
					f[0] = "-D"
					exec.Command(tool, append([]string{"-w", "-t", table}, f...)...).Run()
				}
			}
			for _, ch := range chains {
				exec.Command(tool, "-w", "-t", table, "-F", ch).Run()
			}
			for _, ch := range chains {
				exec.Command(tool, "-w", "-t", table, "-X", ch).Run()
			}
		}
	}
}

var sysctls = []string{"vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops"}

func readSysctls() map[string]string {
	m := map[string]string{}
	for _, k := range sysctls {
		if v, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(k, ".", "/")); err == nil {
			m[k] = strings.TrimSpace(string(v))
		}
	}
	return m
}

// importPause builds the sandbox image (a static Go program that waits for
// SIGTERM) as an OCI archive and imports it into containerd: nothing is
// pulled for it.
func (c *Cluster) importPause() error {
	if err := c.wait("containerd", func(ctx context.Context) error {
		return exec.CommandContext(ctx, "ctr", "-a", c.socket(), "version").Run()
	}); err != nil {
		return err
	}
	src := filepath.Join(Dir, "pause")
	os.MkdirAll(src, 0o755)
	prog := "package main\n\nimport (\n\t\"os\"\n\t\"os/signal\"\n\t\"syscall\"\n)\n\nfunc main() {\n\tc := make(chan os.Signal, 1)\n\tsignal.Notify(c, syscall.SIGTERM, syscall.SIGINT)\n\t<-c\n}\n"
	os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module pause\n\ngo 1.22\n"), 0o644)
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", "pause", ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the pause program: %v: %s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(src, "pause"))
	if err != nil {
		return err
	}
	archive := filepath.Join(src, "pause.tar")
	if err := writeOCIArchive(archive, PauseImage, "/pause", bin); err != nil {
		return err
	}
	out, err := exec.Command("ctr", "-a", c.socket(), "-n", "k8s.io", "images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("importing the pause image: %v: %s", err, out)
	}
	return nil
}

// writeOCIArchive writes an OCI image layout archive of a one-layer image
// holding program at path, its entrypoint, named name.
func writeOCIArchive(archive, name, path string, program []byte) error {
	var layer bytes.Buffer
	gz := gzip.NewWriter(&layer)
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, diff))
	tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: 0o755, Size: int64(len(program)), Typeflag: tar.TypeReg})
	tw.Write(program)
	tw.Close()
	gz.Close()
	blobs := map[string][]byte{}
	put := func(b []byte) string {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return d
	}
	layerDigest := put(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": []string{path}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{fmt.Sprintf("sha256:%x", diff.Sum(nil))}},
	})
	configDigest := put(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest, "size": layer.Len()}},
	})
	manifestDigest := put(manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name[strings.LastIndex(name, ":")+1:]},
		}},
	})
	f, err := os.Create(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	out := tar.NewWriter(f)
	file := func(name string, b []byte) {
		out.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		out.Write(b)
	}
	file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	file("index.json", index)
	for d, b := range blobs {
		file("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	return out.Close()
}

// apiClient trusts the cluster's CA.
func apiClient(caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func httpOK(ctx context.Context, client *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
