package uci

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Marshal returns f as uci commit writes it (with a package line when
// f.Package is set, as uci export writes it). It fails if f.Validate does.
func Marshal(f *File) ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f.appendText(nil), nil
}

// Write writes f to w as Marshal formats it.
func Write(w io.Writer, f *File) error {
	b, err := Marshal(f)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// appendText is libuci's uci_export_package layout, with quoting that also
// holds for section types uci would write unreadably (see appendType).
func (f *File) appendText(b []byte) []byte {
	if f.Package != "" {
		b = append(b, "package "...)
		b = append(b, f.Package...)
		b = append(b, '\n')
	}
	for _, s := range f.Sections {
		b = append(b, "\nconfig "...)
		b = appendType(b, s.Type)
		if !s.Anonymous {
			b = append(b, ' ')
			b = appendQuoted(b, s.Name)
		}
		b = append(b, '\n')
		for _, o := range s.Options {
			kw := "\toption "
			if o.IsList {
				kw = "\tlist "
			}
			for _, v := range o.Values {
				b = append(b, kw...)
				b = append(b, o.Name...)
				b = append(b, ' ')
				b = appendQuoted(b, v)
				b = append(b, '\n')
			}
		}
	}
	return append(b, '\n')
}

// appendQuoted writes v in single quotes; a quote inside closes the string,
// adds an escaped quote and reopens it, as uci_escape does.
func appendQuoted(b []byte, v string) []byte {
	b = append(b, '\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' {
			b = append(b, `'\''`...)
		} else {
			b = append(b, v[i])
		}
	}
	return append(b, '\'')
}

// appendType writes a section type bare, as uci does, unless it holds a
// character the parser treats specially (quotes, backslash, '#', ';'), which
// uci would write as is and then misread; those are quoted.
func appendType(b []byte, typ string) []byte {
	for i := 0; i < len(typ); i++ {
		switch typ[i] {
		case '\'', '"', '\\', '#', ';':
			return appendQuoted(b, typ)
		}
	}
	return append(b, typ...)
}

// WriteFile replaces the file at path with f, atomically: it writes a
// temporary file in the same directory, syncs it, gives it mode perm (not
// subject to the umask; use 0600 for files that hold keys), renames it over
// path and syncs the directory. If path is a symbolic link, the file it
// points to is replaced and the link kept, as uci commit does. On error the
// old file is left as it was.
func WriteFile(path string, f *File, perm fs.FileMode) error {
	data, err := Marshal(f)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return err
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm & fs.ModePerm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory say so with EINVAL or ENOTSUP; that is not an error here.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}
