package project

import (
	"cmp"

	"github.com/goccy/go-yaml/ast"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

var (
	imageKeys = []string{"dockerfile", "context", "contexts", "target", "args", "platforms",
		"repository", "push", "tags", "cache_from", "cache_to", "doctor", "export", "fingerprint", "sync"}
	// imageJobKeys are the job keys an image job may have besides `image`.
	imageJobKeys = []string{"image", "needs", "description", "timeout", "retries", "cache"}
)

// image decodes a job's `image:` mapping.
func (d *decoder) image(n ast.Node) *plan.Image {
	im := &plan.Image{}
	before := len(d.errs)
	for _, kv := range d.mapping(n, "`image`") {
		what := "`image." + kv.key + "`"
		switch kv.key {
		case "dockerfile":
			im.Dockerfile = d.str(kv.value, what)
		case "context":
			im.Context = d.str(kv.value, what)
		case "contexts":
			im.Contexts = d.stringMap(kv.value, what)
		case "target":
			im.Target = d.str(kv.value, what)
		case "args":
			im.Args = d.stringMap(kv.value, what)
		case "platforms":
			im.Platforms, _ = d.strings(kv.value, what)
		case "repository":
			im.Repository = d.str(kv.value, what)
		case "push":
			im.Push = map[string][]string{}
			for _, p := range d.mapping(kv.value, what+" (profile: [registries])") {
				im.Push[p.key], _ = d.strings(p.value, "`image.push."+p.key+"`")
			}
		case "tags":
			im.Tags = d.tags(kv.value, what)
		case "cache_from":
			im.CacheFrom = d.cacheSpecs(kv.value, what)
		case "cache_to":
			im.CacheTo = d.cacheSpecs(kv.value, what)
		case "doctor":
			if b := d.boolean(kv.value, what); b != nil {
				im.NoDoctor = !*b
			}
		case "export":
			d.export(kv.value, im)
		case "sync":
			im.Sync = d.stringMap(kv.value, what+" ({FILE: /PATH/IN/IMAGE})")
		case "fingerprint":
			switch v := d.str(kv.value, what); v {
			case "target":
			case "context":
				im.WholeContext = true
			default:
				d.errorf(kv.value, "%s %q: write target (what the target's stages read, the default) or context (the whole build context)", what, v)
			}
		default:
			d.unknownKey(kv, "in `image`", imageKeys)
		}
	}
	if len(d.errs) == before {
		if err := im.Check(); err != nil {
			d.errorf(n, "image: %v", err)
		}
	}
	return im
}

// export reads `export: {target: STAGE, to: DIR}`. Its target is the
// image's: `target` may name it instead, but not differently.
func (d *decoder) export(n ast.Node, im *plan.Image) {
	var target string
	for _, kv := range d.mapping(n, "`image.export` ({target: STAGE, to: DIR})") {
		switch kv.key {
		case "target":
			target = d.str(kv.value, "`image.export.target`")
		case "to":
			im.Export = d.str(kv.value, "`image.export.to`")
			if im.Export == "" {
				d.errorf(kv.value, "`image.export.to` is empty: name the directory the files go to, such as dist/out")
			}
		default:
			d.unknownKey(kv, "in `image.export`", []string{"target", "to"})
		}
	}
	if im.Export == "" {
		d.errorf(n, "`image.export` needs `to`: the directory the target's files go to, such as {target: %s, to: dist/out}", cmp.Or(target, "STAGE"))
	}
	switch {
	case target == "":
	case im.Target != "" && im.Target != target:
		d.errorf(n, "`image.export.target` %q and `image.target` %q differ: the export builds one target; keep one of them", target, im.Target)
	default:
		im.Target = target
	}
}

// tags reads extra tags: a name, or {name: NAME, used_by: WHAT}.
func (d *decoder) tags(n ast.Node, what string) []plan.Tag {
	seq, ok := d.resolve(n).(*ast.SequenceNode)
	if !ok {
		d.errorf(n, "%s must be a list of tags (latest, or {name: latest, used_by: deploy/compose.yaml})", what)
		return nil
	}
	var tags []plan.Tag
	for _, e := range seq.Values {
		if _, scalar := d.resolve(e).(ast.ScalarNode); scalar {
			tags = append(tags, plan.Tag{Name: d.str(e, what)})
			continue
		}
		var t plan.Tag
		for _, kv := range d.mapping(e, "a tag") {
			switch kv.key {
			case "name":
				t.Name = d.str(kv.value, "`name`")
			case "used_by":
				t.UsedBy = d.str(kv.value, "`used_by`")
			default:
				d.unknownKey(kv, "in a tag", []string{"name", "used_by"})
			}
		}
		if t.Name == "" {
			d.errorf(e, "a tag needs a `name`")
		}
		tags = append(tags, t)
	}
	return tags
}

func (d *decoder) cacheSpecs(n ast.Node, what string) []plan.CacheSpec {
	texts, at := d.strings(n, what)
	var specs []plan.CacheSpec
	for i, text := range texts {
		c, err := plan.ParseCacheSpec(text)
		if err != nil {
			d.errorAt(at[i], "%v", err)
			continue
		}
		specs = append(specs, c)
	}
	return specs
}

// stringMap reads a mapping of names to scalar values.
func (d *decoder) stringMap(n ast.Node, what string) map[string]string {
	m := map[string]string{}
	for _, kv := range d.mapping(n, what) {
		m[kv.key] = d.str(kv.value, what+"."+kv.key)
	}
	return m
}
