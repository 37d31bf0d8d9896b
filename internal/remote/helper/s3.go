package helper

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sparkwing-dev/sparkwing/internal/remote"
)

// s3Backend keeps the remote cache in a bucket: PREFIX/ac/<sha256>
// (entries, as sent) and PREFIX/cas/<sha256> (blobs, plain or zstd as
// sent; a zstd one carries Content-Encoding zstd and its plain size in the
// metadata).
type s3Backend struct {
	s3     *minio.Client
	bucket string
	prefix string // "" or ending in "/"
	// refresh is how old an entry's last-use mark (its object's time) may
	// grow before a read renews it; S3 has no LRU, so prune goes by it.
	refresh time.Duration
	touches sync.WaitGroup // renewals still running: Main waits for them before it exits
}

// DefaultRefresh is how often a used entry's last-use mark is renewed:
// at most once a day per entry.
const DefaultRefresh = 24 * time.Hour

// sizeMeta is the user metadata holding a zstd blob's plain size.
const sizeMeta = "Sparkwing-Size"

// NewS3 keeps the cache in bucket, under prefix, through c.
func NewS3(c *minio.Client, bucket, prefix string) *s3Backend {
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		prefix += "/"
	}
	return &s3Backend{s3: c, bucket: bucket, prefix: prefix, refresh: DefaultRefresh}
}

// openS3 connects to S3 as the AWS tools would configure it and checks the
// credentials and the bucket. On failure it returns the line to print.
//
//	AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL   the endpoint (default AWS)
//	AWS_REGION, AWS_DEFAULT_REGION          the region
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
//	or AWS_PROFILE in ~/.aws/credentials    the credentials
//	AWS_S3_FORCE_PATH_STYLE=true            path-style requests
func openS3(bucket, prefix string, getenv func(string) string, timeout time.Duration) (*s3Backend, string) {
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
	return NewS3(c, bucket, prefix), ""
}

func (g *s3Backend) name(kind, digest string) string { return g.prefix + kind + "/" + digest }

func (g *s3Backend) GetAC(ctx context.Context, addr string) ([]byte, error) {
	name := g.name("ac", addr)
	obj, err := g.s3.GetObject(ctx, g.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(err)
	}
	defer obj.Close()
	info, err := obj.Stat()
	if err != nil {
		return nil, s3Error(err)
	}
	data, err := io.ReadAll(obj)
	if err == nil && time.Since(info.LastModified) > g.refresh {
		g.touch(name)
	}
	return data, s3Error(err)
}

// touch renews an object's time (a copy onto itself), in the background:
// a failure only makes the entry look older to prune.
func (g *s3Backend) touch(name string) {
	g.touches.Add(1)
	go func() {
		defer g.touches.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		g.s3.CopyObject(ctx, minio.CopyDestOptions{Bucket: g.bucket, Object: name, ReplaceMetadata: true,
			UserMetadata: map[string]string{"Sparkwing-Used": time.Now().UTC().Format(time.RFC3339)}},
			minio.CopySrcOptions{Bucket: g.bucket, Object: name})
	}()
}

func (g *s3Backend) PutAC(ctx context.Context, addr string, data []byte) error {
	_, err := g.s3.PutObject(ctx, g.bucket, g.name("ac", addr), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	return s3Error(err)
}

func (g *s3Backend) HasBlob(ctx context.Context, digest string) (bool, error) {
	_, err := g.s3.StatObject(ctx, g.bucket, g.name("cas", digest), minio.StatObjectOptions{})
	if err = s3Error(err); err == remote.ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

func (g *s3Backend) GetBlob(ctx context.Context, digest string) (io.ReadCloser, bool, error) {
	obj, err := g.s3.GetObject(ctx, g.bucket, g.name("cas", digest), minio.GetObjectOptions{})
	if err != nil {
		return nil, false, s3Error(err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, false, s3Error(err)
	}
	return obj, info.Metadata.Get("Content-Encoding") == "zstd", nil
}

// PutBlob stores a blob. A plain one is hashed on the way and removed
// again if it is not what its digest says; a zstd one is checked by its
// readers, who decode it anyway.
func (g *s3Backend) PutBlob(ctx context.Context, digest string, size int64, r io.Reader, compressed bool, wireSize int64) error {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: 16 << 20, NumThreads: 1}
	h := sha256.New()
	if compressed {
		opts.ContentEncoding = "zstd"
		opts.UserMetadata = map[string]string{sizeMeta: strconv.FormatInt(size, 10)}
	} else {
		r = io.TeeReader(r, h)
	}
	name := g.name("cas", digest)
	if _, err := g.s3.PutObject(ctx, g.bucket, name, r, wireSize, opts); err != nil {
		return s3Error(err)
	}
	if !compressed && hex.EncodeToString(h.Sum(nil)) != digest {
		g.s3.RemoveObject(context.Background(), g.bucket, name, minio.RemoveObjectOptions{})
		return &remote.ClassError{Class: remote.ClassCorrupt, Msg: "the content sent does not hash to " + digest[:12]}
	}
	return nil
}

// s3Error is err with a missing object as remote.ErrNotFound and the
// failures sparkwing tells apart as their classes.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound:
		return remote.ErrNotFound
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return &remote.ClassError{Class: remote.ClassAuth, Msg: oneLine(err)}
	case resp.Code == "XMinioStorageFull" || resp.Code == "QuotaExceeded" || resp.Code == "EntityTooLarge":
		return &remote.ClassError{Class: remote.ClassFull, Msg: oneLine(err)}
	}
	return err
}

func statusOf(err error) int { return minio.ToErrorResponse(err).StatusCode }

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }
