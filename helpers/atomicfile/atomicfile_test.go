package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"amplitude-testgen/helpers/atomicfile"
)

func TestWrite(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		old     string // existing content; "" for none
		write   func(io.Writer) error
		wantErr error
		want    string // content after; "" for no file
	}{
		{"a new file gets everything written", "", func(w io.Writer) error {
			_, err := io.WriteString(w, "hello\n")
			return err
		}, nil, "hello\n"},
		{"an existing file is replaced whole", "old\n", func(w io.Writer) error {
			_, err := io.WriteString(w, "new\n")
			return err
		}, nil, "new\n"},
		{"a failed write leaves no file", "", func(w io.Writer) error {
			_, _ = io.WriteString(w, "half")
			return boom
		}, boom, ""},
		{"a failed write leaves the old file as it was", "old\n", func(w io.Writer) error {
			_, _ = io.WriteString(w, "half")
			return boom
		}, boom, "old\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.json")
			if tt.old != "" {
				require.NoError(t, os.WriteFile(path, []byte(tt.old), 0o644))
			}
			err := atomicfile.Write(path, tt.write)
			assert.ErrorIs(t, err, tt.wantErr)
			got, rerr := os.ReadFile(path)
			if tt.want == "" {
				assert.ErrorIs(t, rerr, os.ErrNotExist)
			} else {
				require.NoError(t, rerr)
				assert.Equal(t, tt.want, string(got))
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				assert.Equal(t, "out.json", e.Name(), "temporary file left behind")
			}
		})
	}
}

func TestWriteMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	require.NoError(t, atomicfile.Write(path, func(io.Writer) error { return nil }))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
}

func TestWriteMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "out.json")
	err := atomicfile.Write(path, func(io.Writer) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
}
