package openwrt

import (
	"fmt"
	"os"
	"path/filepath"
)

// generated returns the committed files that derive from the schema, with
// the content the schema gives them.
func generated(root string, s Schema) (map[string]string, error) {
	init, err := os.ReadFile(filepath.Join(root, InitScript))
	if err != nil {
		return nil, err
	}
	script, err := ReplaceValidation(string(init), InitValidation(s))
	if err != nil {
		return nil, err
	}
	return map[string]string{ConfigFile: DefaultConfig(s), InitScript: script}, nil
}

// CheckGenerated reports a committed generated file that differs from what
// the schema gives.
func CheckGenerated(root string, s Schema) error {
	want, err := generated(root, s)
	if err != nil {
		return err
	}
	for _, p := range []string{ConfigFile, InitScript} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return err
		}
		if string(got) != want[p] {
			return fmt.Errorf("%s is out of date with `mip4d schema --json`", p)
		}
	}
	return nil
}

// UpdateGenerated rewrites the generated files from the schema.
func UpdateGenerated(root string, s Schema) error {
	want, err := generated(root, s)
	if err != nil {
		return err
	}
	for p, content := range want {
		mode := os.FileMode(0o644)
		if p == InitScript {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), mode); err != nil {
			return err
		}
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			return err
		}
		fmt.Println("wrote", p)
	}
	return nil
}
