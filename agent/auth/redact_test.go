package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
)

// redactionOutputs renders sa every way a program might print it: fmt
// verbs on the SA, on its key, inside a struct and a slice; slog text and
// JSON; encoding/json; the error of a failed lookup.
func redactionOutputs(sa *SA) []string {
	type holder struct {
		Name string
		SA   *SA
		Key  Secret
	}
	h := holder{"mn1", sa, sa.Key}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out = append(out, fmt.Sprintf(verb, sa), fmt.Sprintf(verb, sa.Key), fmt.Sprintf(verb, h),
			fmt.Sprintf(verb, []*SA{sa}), fmt.Sprintf(verb, *sa))
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("sa", "sa", sa, "key", sa.Key, "holder", h)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("sa", "sa", sa, "key", sa.Key, "holder", h)
	out = append(out, buf.String())
	j, _ := json.Marshal(h)
	out = append(out, string(j))
	return out
}
