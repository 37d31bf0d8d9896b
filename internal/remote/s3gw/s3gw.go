// Package s3gw is sparkwing-s3: a gateway on the loopback that speaks
// bazel-remote's HTTP protocol (what the remote cache client speaks) and
// keeps what it is given in an S3 bucket, through minio-go. sparkwing
// starts it for an s3:// remote, so the S3 client (a few milliseconds of
// package init) never adds to sparkwing's own start-up.
//
// Objects: PREFIX/ac/<sha256> (entries, as sent) and PREFIX/cas/<sha256>
// (blobs, plain or zstd, as sent; a zstd one carries Content-Encoding
// zstd and its plain size in the metadata).
package s3gw

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// sizeMeta is the user metadata holding a zstd blob's plain size.
const sizeMeta = "Sparkwing-Size"

// Main is `sparkwing-s3 serve --bucket B [--prefix P] [--timeout D]`. The
// client token comes in SPARKWING_S3_TOKEN. It prints one line (see
// remote.startGateway), serves until stdin closes, and exits.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(stderr, "usage: sparkwing-s3 serve --bucket BUCKET [--prefix PREFIX] [--timeout 10s]\n(sparkwing starts it for an s3:// remote cache)")
		return 2
	}
	fs := flag.NewFlagSet("sparkwing-s3 serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bucket := fs.String("bucket", "", "the bucket")
	prefix := fs.String("prefix", "", "the key prefix inside the bucket")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for S3 at start")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	token := os.Getenv("SPARKWING_S3_TOKEN")
	if token == "" || *bucket == "" {
		fmt.Fprintln(stdout, "setup sparkwing-s3\tneeds --bucket and SPARKWING_S3_TOKEN\tlet sparkwing start it")
		return 2
	}
	gw, line := open(*bucket, *prefix, os.Getenv, *timeout)
	if gw == nil {
		fmt.Fprintln(stdout, line)
		return 2
	}
	gw.token = token
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stdout, "unavailable cannot listen on the loopback: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stdout, "ready http://%s\n", ln.Addr())
	io.Copy(io.Discard, stdin) // until sparkwing closes it, or exits
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return 0
}

// Gateway serves the protocol over one bucket.
type Gateway struct {
	s3     *minio.Client
	bucket string
	prefix string // "" or ending in "/"
	token  string // "" accepts any client (tests)
}

// New serves bucket (under prefix) through c, to any client: for tests,
// which reach the bucket as sparkwing does.
func New(c *minio.Client, bucket, prefix string) *Gateway {
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	return &Gateway{s3: c, bucket: bucket, prefix: prefix}
}

// open connects to S3 as the AWS tools would configure it and checks the
// credentials and the bucket. On failure it returns the line to print.
//
//	AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL   the endpoint (default AWS)
//	AWS_REGION, AWS_DEFAULT_REGION          the region
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
//	or AWS_PROFILE in ~/.aws/credentials    the credentials
//	AWS_S3_FORCE_PATH_STYLE=true            path-style requests
func open(bucket, prefix string, getenv func(string) string, timeout time.Duration) (*Gateway, string) {
	endpoint := "https://s3.amazonaws.com"
	for _, v := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if e := getenv(v); e != "" {
			endpoint = e
			break
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Sprintf("setup AWS_ENDPOINT_URL\t%q is not an http(s) URL\tset it to the S3 endpoint, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000", endpoint)
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Profile: getenv("AWS_PROFILE")},
	})
	if v, err := creds.Get(); err != nil || v.AccessKeyID == "" {
		return nil, "setup AWS_ACCESS_KEY_ID\tno S3 credentials found\tset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE)"
	}
	lookup := minio.BucketLookupAuto
	switch getenv("AWS_S3_FORCE_PATH_STYLE") {
	case "true", "1":
		lookup = minio.BucketLookupPath
	case "false", "0":
		lookup = minio.BucketLookupDNS
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: creds, Secure: u.Scheme == "https",
		Region: cmp.Or(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")), BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Sprintf("setup AWS_ENDPOINT_URL\t%v\tcheck the endpoint", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ok, err := c.BucketExists(ctx, bucket)
	switch code := statusOf(err); {
	case err == nil && !ok:
		return nil, fmt.Sprintf("setup s3://%s\tthe bucket %q does not exist\tcreate it (aws s3 mb s3://%s, mc mb), or fix the URL", bucket, bucket, bucket)
	case code == http.StatusForbidden || code == http.StatusUnauthorized:
		return nil, fmt.Sprintf("setup AWS_ACCESS_KEY_ID\tS3 refused the credentials: %v\tset AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key that may read and write s3://%s", oneLine(err), bucket)
	case err != nil:
		return nil, "unavailable " + oneLine(err)
	}
	return New(c, bucket, prefix), ""
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+g.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	kind, digest, ok := parsePath(r.URL.Path)
	if !ok {
		http.Error(w, "want /ac/<sha256> or /cas/<sha256>", http.StatusNotFound)
		return
	}
	name := g.prefix + kind + "/" + digest
	var err error
	switch r.Method {
	case http.MethodHead:
		_, err = g.s3.StatObject(r.Context(), g.bucket, name, minio.StatObjectOptions{})
	case http.MethodGet:
		err = g.get(w, r, name)
	case http.MethodPut:
		err = g.put(r, kind, digest, name)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		g.fail(w, err)
	}
}

// parsePath splits /ac/<hex> or /cas/<hex>.
func parsePath(p string) (kind, digest string, ok bool) {
	kind, digest, ok = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !ok || (kind != "ac" && kind != "cas") || len(digest) != 64 {
		return "", "", false
	}
	if _, err := hex.DecodeString(digest); err != nil || strings.ToLower(digest) != digest {
		return "", "", false
	}
	return kind, digest, true
}

func (g *Gateway) get(w http.ResponseWriter, r *http.Request, name string) error {
	obj, err := g.s3.GetObject(r.Context(), g.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	info, err := obj.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	var body io.Reader = obj
	zstdStored := info.Metadata.Get("Content-Encoding") == "zstd"
	switch {
	case zstdStored && strings.Contains(r.Header.Get("Accept-Encoding"), "zstd"):
		w.Header().Set("Content-Encoding", "zstd")
	case zstdStored:
		dec, err := zstd.NewReader(obj, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return err
		}
		defer dec.Close()
		body = dec
		if n, err := strconv.ParseInt(info.UserMetadata[sizeMeta], 10, 64); err == nil {
			w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		}
	default:
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	}
	io.Copy(w, body) // a failure midway ends the answer short: the client sees it
	return nil
}

func (g *Gateway) put(r *http.Request, kind, digest, name string) error {
	if r.ContentLength < 0 {
		return &statusErr{http.StatusLengthRequired, "a PUT needs Content-Length"}
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: 16 << 20, NumThreads: 1}
	var body io.Reader = r.Body
	h := sha256.New()
	switch enc := r.Header.Get("Content-Encoding"); {
	case enc == "zstd" && kind == "cas":
		size := r.Header.Get("X-Digest-SizeBytes")
		if _, err := strconv.ParseInt(size, 10, 64); err != nil {
			return &statusErr{http.StatusBadRequest, "a zstd PUT needs X-Digest-SizeBytes"}
		}
		opts.ContentEncoding = "zstd"
		opts.UserMetadata = map[string]string{sizeMeta: size}
		h = nil // readers verify what they decode
	case enc != "" && enc != "identity":
		return &statusErr{http.StatusBadRequest, fmt.Sprintf("unsupported Content-Encoding %q", enc)}
	case kind == "cas":
		body = io.TeeReader(r.Body, h)
	default:
		h = nil
	}
	if _, err := g.s3.PutObject(r.Context(), g.bucket, name, body, r.ContentLength, opts); err != nil {
		return err
	}
	if h != nil && hex.EncodeToString(h.Sum(nil)) != digest {
		g.s3.RemoveObject(context.Background(), g.bucket, name, minio.RemoveObjectOptions{})
		return &statusErr{http.StatusBadRequest, "the content does not hash to " + digest}
	}
	return nil
}

type statusErr struct {
	code int
	msg  string
}

func (e *statusErr) Error() string { return e.msg }

// fail answers with the HTTP status that says what S3 said.
func (g *Gateway) fail(w http.ResponseWriter, err error) {
	var se *statusErr
	if errors.As(err, &se) {
		http.Error(w, se.msg, se.code)
		return
	}
	resp := minio.ToErrorResponse(err)
	code := http.StatusBadGateway
	switch {
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound:
		code = http.StatusNotFound
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		code = http.StatusForbidden
	case resp.Code == "XMinioStorageFull" || resp.Code == "QuotaExceeded" || resp.Code == "EntityTooLarge":
		code = http.StatusInsufficientStorage
	case resp.StatusCode == http.StatusServiceUnavailable || resp.Code == "SlowDown":
		code = http.StatusServiceUnavailable
	}
	http.Error(w, oneLine(err), code)
}

func statusOf(err error) int { return minio.ToErrorResponse(err).StatusCode }

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
