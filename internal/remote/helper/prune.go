package helper

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// prune removes what an S3 remote has not used for maxAge: entries by
// their last-use mark (renewed by reads, see s3Backend.touch), then blobs
// no remaining entry names and that are themselves older than maxAge (a
// blob uploaded moments ago may belong to an entry still on its way).
// Entries are read to learn their blobs, not trusted: a forged one can
// only keep blobs alive.
func (g *s3Backend) prune(ctx context.Context, maxAge time.Duration, dry bool, out io.Writer) error {
	cutoff := time.Now().Add(-maxAge)
	verb := map[bool]string{true: "would remove", false: "removed"}[dry]
	keep := map[string]bool{}
	var entries, gone int
	var freed int64
	for o := range g.s3.ListObjects(ctx, g.bucket, minio.ListObjectsOptions{Prefix: g.prefix + "ac/", Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		entries++
		if o.LastModified.Before(cutoff) {
			gone++
			freed += o.Size
			if !dry {
				if err := g.s3.RemoveObject(ctx, g.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
					return err
				}
			}
			continue
		}
		data, err := g.GetACPlain(ctx, o.Key)
		if err != nil {
			return err
		}
		if e, err := remote.PeekEntry(data); err == nil {
			for _, b := range e.Blobs() {
				keep[b.Digest] = true
			}
		}
	}
	var blobs, blobsGone int
	for o := range g.s3.ListObjects(ctx, g.bucket, minio.ListObjectsOptions{Prefix: g.prefix + "cas/", Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		blobs++
		digest := strings.TrimPrefix(o.Key, g.prefix+"cas/")
		if keep[digest] || !o.LastModified.Before(cutoff) {
			continue
		}
		blobsGone++
		freed += o.Size
		if !dry {
			if err := g.s3.RemoveObject(ctx, g.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "%s %d of %d entries and %d of %d blobs unused for %s, %s\n", verb, gone, entries, blobsGone, blobs,
		maxAge, runrec.Bytes(freed))
	return nil
}

// GetACPlain reads an entry object by its full name, without renewing it.
func (g *s3Backend) GetACPlain(ctx context.Context, name string) ([]byte, error) {
	obj, err := g.s3.GetObject(ctx, g.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(io.LimitReader(obj, 1<<30))
}
