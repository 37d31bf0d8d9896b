package deploy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDecodeRequest(t *testing.T) {
	good := `{"V":1,"Root":"/p","Job":"d","Profile":"local","Deploy":{"Kustomize":"k/{profile}","Images":{"api":"img"},"Rollout":true,"Timeout":0,"HealthTimeout":0,"OnFailure":"rollback"},"Images":{"api":"127.0.0.1:5000/api:t"}}`
	if _, err := DecodeRequest("apply", strings.NewReader(good)); err != nil {
		t.Fatalf("good request refused: %v", err)
	}
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(good, `"V":1`, `"V":7`, 1), "request version 7"},
		{strings.Replace(good, `"Root":"/p"`, `"Root":"p"`, 1), `root "p" is not absolute`},
		{strings.Replace(good, `"Images":{"api":"127.0.0.1:5000/api:t"}`, `"Images":{}`, 1), "no reference for image api"},
		{strings.Replace(good, `"OnFailure":"rollback"`, `"OnFailure":"pray"`, 1), `on_failure "pray"`},
		{strings.Replace(good, `"Kustomize":"k/{profile}"`, `"Kustomize":"../k"`, 1), "outside the project"},
		{`{"V":1,"Root":"/p"}`, "names no deploy"},
		{good + good, "more than one JSON value"},
		{`{"V":1,"Extra":true}`, "unknown field"},
	} {
		if _, err := DecodeRequest("apply", strings.NewReader(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.body, err, tc.want)
		}
	}

	// The sync op pins what the cluster runs: no references, but files.
	sync := strings.Replace(good, `"Images":{"api":"127.0.0.1:5000/api:t"}`,
		`"Sync":{"Supervisor":"/bin/sparkwing-supervisor","Generation":"g1","Files":[{"Image":"api","From":"/p/bin/api","To":"/api"}]}`, 1)
	if _, err := DecodeRequest("sync", strings.NewReader(sync)); err != nil {
		t.Fatalf("good sync request refused: %v", err)
	}
	for _, tc := range []struct{ op, body, want string }{
		{"sync", good, "names no file to sync"},
		{"apply", sync, "no reference for image api"},
		{"sync", strings.Replace(sync, `"Image":"api"`, `"Image":"web"`, 1), "want an image of the deploy"},
		{"sync", strings.Replace(sync, `"To":"/api"`, `"To":"api"`, 1), "absolute paths"},
		{"sync", strings.Replace(sync, `"Supervisor":"/bin/`, `"Supervisor":"`, 1), "is not absolute"},
	} {
		if _, err := DecodeRequest(tc.op, strings.NewReader(tc.body)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: error %v, want %q", tc.op, tc.body, err, tc.want)
		}
	}

	// The logs op follows what runs: no references, and a time.
	logs := strings.Replace(good, `"Images":{"api":"127.0.0.1:5000/api:t"}`, `"Since":"2026-12-07T22:00:00.5Z"`, 1)
	req, err := DecodeRequest("logs", strings.NewReader(logs))
	if err != nil {
		t.Fatalf("good logs request refused: %v", err)
	}
	if want := time.Date(2026, 12, 7, 22, 0, 0, 5e8, time.UTC); !req.Since.Equal(want) {
		t.Errorf("Since = %v, want %v", req.Since, want)
	}
	if _, err := DecodeRequest("logs", strings.NewReader(strings.Replace(logs, `"Root":"/p"`, `"Root":"p"`, 1))); err == nil {
		t.Error("a logs request with a relative root was accepted")
	}
	if _, err := DecodeRequest("logs", strings.NewReader(strings.Replace(logs, `22:00:00.5Z`, `noon`, 1))); err == nil {
		t.Error("a logs request with a bad time was accepted")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(`{"V":1,"Root":"/p","Deploy":{"Kustomize":"k","Images":{"api":"img"},"OnFailure":"keep"},"Images":{"api":"r/api:t"}}`)
	f.Add(`{"V":1,"Root":"/p","Deploy":{"Kustomize":"k","OnFailure":"rollback","Health":["tcp:127.0.0.1:1"]}}`)
	f.Add(`{"V":1,"Root":"rel","Deploy":{}}`)
	f.Add(`{"V":1,"Root":"/p","Deploy":{"Kustomize":"k","Images":{"api":"img"},"OnFailure":"keep"},"Sync":{"Supervisor":"/s","Files":[{"Image":"api","From":"/a","To":"/b"}]}}`)
	f.Add(`{"V":1,"Root":"/p","Deploy":{"Kustomize":"k","Images":{"api":"img"},"OnFailure":"keep"},"Since":"2026-12-07T22:00:00Z"}`)
	f.Fuzz(func(t *testing.T, body string) {
		if req, err := DecodeRequest("logs", strings.NewReader(body)); err == nil && (!filepath.IsAbs(req.Root) || req.Deploy.Check() != nil) {
			t.Fatalf("accepted a logs request of root %q, deploy %+v", req.Root, req.Deploy)
		}
		if req, err := DecodeRequest("sync", strings.NewReader(body)); err == nil {
			for _, file := range req.Sync.Files {
				if !filepath.IsAbs(file.From) || !slices.Contains(req.Deploy.ImageNames(), file.Image) {
					t.Fatalf("accepted a sync of %+v", file)
				}
			}
		}
		req, err := DecodeRequest("apply", strings.NewReader(body))
		if err != nil {
			return
		}
		switch {
		case req.V != WireVersion:
			t.Fatalf("accepted version %d", req.V)
		case !filepath.IsAbs(req.Root):
			t.Fatalf("accepted a relative root %q", req.Root)
		case req.Deploy.Check() != nil:
			t.Fatalf("accepted a deploy its check refuses: %v", req.Deploy.Check())
		}
		for _, name := range req.Deploy.ImageNames() {
			if req.Images[name] == "" {
				t.Fatalf("accepted image %s without a reference", name)
			}
		}
	})
}
