package project

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sparkwing.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sparkwing.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validate checks YAML text against the schema, as an editor would.
func validate(s *jsonschema.Schema, text []byte) error {
	var v any
	if err := yaml.Unmarshal(text, &v); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}

// TestSchemaNamesTheParsersKeys: the schema and the parser know the same
// keys at every level, so neither can gain one alone.
func TestSchemaNamesTheParsersKeys(t *testing.T) {
	var doc struct {
		Properties map[string]any `json:"properties"`
		Defs       map[string]struct {
			Properties map[string]any `json:"properties"`
			Then       struct {
				PropertyNames struct {
					Enum []string `json:"enum"`
				} `json:"propertyNames"`
			} `json:"then"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s []string) []string { return slices.Sorted(slices.Values(s)) }
	for _, c := range []struct {
		level  string
		schema []string
		parser []string
	}{
		{"top level", keys(doc.Properties), topKeys},
		{"pipeline", keys(doc.Defs["pipeline"].Properties), pipelineKeys},
		{"job", keys(doc.Defs["job"].Properties), jobKeys},
		{"image", keys(doc.Defs["image"].Properties), imageKeys},
		{"image job", doc.Defs["job"].Then.PropertyNames.Enum, imageJobKeys},
	} {
		if !slices.Equal(sorted(c.schema), sorted(c.parser)) {
			t.Errorf("%s: schema has %v, parser %v", c.level, sorted(c.schema), sorted(c.parser))
		}
	}
}

// TestTheExampleCarriesTheSchema: the bundled example's copy, which its
// project file names, is the schema this sparkwing prints.
func TestTheExampleCarriesTheSchema(t *testing.T) {
	data, err := os.ReadFile("../../examples/hello-service/.sparkwing/" + SchemaFile)
	if err != nil || !bytes.Equal(data, Schema) {
		t.Fatalf("examples/hello-service/.sparkwing/%s differs from the schema (%v): run sparkwing -C examples/hello-service init", SchemaFile, err)
	}
}

// TestSchemaAcceptsWhatTheParserAccepts: every project file of the starter,
// the example and the CLI's scripts that the parser accepts, the schema
// accepts too (an editor must never flag a file sparkwing runs).
func TestSchemaAcceptsWhatTheParserAccepts(t *testing.T) {
	s := compileSchema(t)
	files := map[string][]byte{}
	for _, p := range []string{"../cli/starter/sparkwing.yaml", "../../examples/hello-service/.sparkwing/sparkwing.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = data
	}
	scripts, _ := filepath.Glob("../cli/testdata/script/*.txtar")
	for _, p := range scripts {
		a, err := txtar.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			if strings.HasSuffix(f.Name, ".yaml") && bytes.Contains(f.Data, []byte("pipelines:")) {
				files[p+":"+f.Name] = f.Data
			}
		}
	}
	accepted := 0
	for name, data := range files {
		if _, err := Parse(name, data); err != nil {
			continue
		}
		accepted++
		if err := validate(s, data); err != nil {
			t.Errorf("%s: sparkwing accepts it, the schema does not:\n%v", name, err)
		}
	}
	t.Logf("%d project files the parser accepts, all valid against the schema", accepted)
	if accepted < 20 {
		t.Fatalf("only %d project files checked; the corpus went missing", accepted)
	}
}

// TestSchemaRejectsStructuralMistakes: the mistakes an editor can flag
// while typing, which the parser rejects too.
func TestSchemaRejectsStructuralMistakes(t *testing.T) {
	s := compileSchema(t)
	for _, text := range []string{
		"pipeline:\n  - name: b\n",
		"pipelines:\n  - name: b\n    job:\n      a: {run: x}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {run: x, input: [x]}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {run: x}\n      needs: [a]\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {run: x, retries: many}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {run: x, timeout: soon}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {run: x, cache: maybe}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {description: nothing to do}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {image: {context: .}, inputs: [x]}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {image: {contxt: .}}\n",
		"pipelines:\n  - name: b\n    entrypoint: B\n    jobs:\n      a: {run: x}\n",
		"pipelines:\n  - description: no name\n    jobs:\n      a: {run: x}\n",
		"pipelines:\n  - name: b\n    jobs:\n      a: {run: x, env: [not-a-name]}\n",
	} {
		if _, err := Parse("sparkwing.yaml", []byte(text)); err == nil {
			t.Errorf("the parser accepts %q; it is not a mistake", text)
			continue
		}
		if err := validate(s, []byte(text)); err == nil {
			t.Errorf("the schema accepts %q", text)
		}
	}
}
