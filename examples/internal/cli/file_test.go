package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteCSV: the file lands in a folder that did not exist, with the
// header first, mode 0644 and no temporary file left beside it; a second
// write replaces it whole.
func TestWriteCSV(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "folder")
	path := filepath.Join(dir, "out.csv")
	if err := WriteCSV(path, []string{"a", "b"}, [][]string{{"1", "x,y"}, {"2", ""}}); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(path, []string{"a", "b"}, [][]string{{"3", "z"}}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a,b\n3,z\n"; string(got) != want {
		t.Errorf("content %q, want %q", got, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the folder holds %d entries, want only out.csv", len(entries))
	}
}

// TestWriteFileMissingParent: a path whose folder cannot be made is an
// error, not a panic or a file elsewhere.
func TestWriteFileMissingParent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(file, "sub", "x"), []byte("x"), 0o644); err == nil {
		t.Error("writing below a regular file: no error")
	}
}
