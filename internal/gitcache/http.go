package gitcache

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
)

// ServeInfoRefs answers GET /git/NAME/info/refs?service=git-upload-pack:
// the ref advertisement of git's smart HTTP protocol (v0, or v2 when the
// client asks for it in Git-Protocol). Only upload-pack is served: the
// mirrors are read-only.
func (c *Cache) ServeInfoRefs(w http.ResponseWriter, r *http.Request, name string) {
	if r.URL.Query().Get("service") != "git-upload-pack" {
		http.Error(w, "only git-upload-pack is served: the controller's mirrors are read-only", http.StatusForbidden)
		return
	}
	if !c.Has(name) {
		http.Error(w, fmt.Sprintf("repository %q is not registered", name), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
	w.Header().Set("Cache-Control", "no-cache")
	proto := r.Header.Get("Git-Protocol")
	if proto == "" {
		io.WriteString(w, pktLine("# service=git-upload-pack\n")+"0000")
	}
	c.uploadPack(w, r, name, nil, "--advertise-refs")
}

// ServeUploadPack answers POST /git/NAME/git-upload-pack: a fetch.
func (c *Cache) ServeUploadPack(w http.ResponseWriter, r *http.Request, name string) {
	if !c.Has(name) {
		http.Error(w, fmt.Sprintf("repository %q is not registered", name), http.StatusNotFound)
		return
	}
	body := io.Reader(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	}
	w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
	w.Header().Set("Cache-Control", "no-cache")
	c.uploadPack(w, r, name, body)
}

func (c *Cache) uploadPack(w http.ResponseWriter, r *http.Request, name string, stdin io.Reader, extra ...string) {
	args := append([]string{"upload-pack", "--stateless-rpc"}, extra...)
	cmd := exec.CommandContext(r.Context(), "git", append(args, c.Path(name))...)
	cmd.Env = os.Environ()
	if p := r.Header.Get("Git-Protocol"); p != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+p)
	}
	cmd.Stdin, cmd.Stdout = stdin, w
	cmd.Run() // an error mid-stream cannot change the status any more; the client sees a cut pack
}

func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }
