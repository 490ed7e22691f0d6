package cli

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
)

// WriteFile writes data to path with permissions perm, creating the folder
// if needed. It writes a temporary file next to path and renames it onto
// path, so that a reader (or a later run) never sees part of a file.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil { // CreateTemp makes it 0600
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteCSV writes the header and then the records to path as a CSV file
// (through WriteFile, mode 0644).
func WriteCSV(path string, header []string, records [][]string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := w.WriteAll(records); err != nil {
		return err
	}
	return WriteFile(path, buf.Bytes(), 0o644)
}
