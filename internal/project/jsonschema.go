package project

import _ "embed"

// Schema is the JSON Schema of the project file, for editors (`sparkwing
// schema` prints it; `sparkwing init` writes it beside sparkwing.yaml,
// which names it in a yaml-language-server comment). The parser is the
// authority: the schema describes the same keys (a test keeps the two in
// step) so an editor flags a typo as it is typed.
//
//go:embed sparkwing.schema.json
var Schema []byte

// SchemaFile is the schema's name beside the project file.
const SchemaFile = "sparkwing.schema.json"
