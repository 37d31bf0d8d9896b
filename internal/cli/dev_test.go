package cli

import "testing"

// An editor's save leaves files beside the one saved; a change to them is
// no edit, so dev does not build for one, however long the editor takes
// between writing it and renaming it over the file.
func TestEditorScratch(t *testing.T) {
	for name, want := range map[string]bool{
		"main.go~": true, ".main.go.swp": true, ".main.go.swx": true, "4913": true, // vim
		".#main.go": true, "#main.go#": true, // Emacs
		"main.go___jb_tmp___": true, "main.go___jb_old___": true, // JetBrains
		".main.go.kate-swp": true, ".goutputstream-X1Y2Z3": true,
		"main.go": false, "#": false, "##": false, "#include.h": false, "issue#4.md": false, "4914": false, "swp.go": false,
	} {
		if got := editorScratch(name); got != want {
			t.Errorf("editorScratch(%q) = %v, want %v", name, got, want)
		}
	}
}
