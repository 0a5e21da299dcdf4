package sim

import (
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
)

//go:embed scenarios/*.yaml
var builtinFS embed.FS

// BuiltinInfo names a built-in scenario and says what it shows.
type BuiltinInfo struct {
	Name        string
	Description string
}

// Builtins lists the built-in scenarios in name order.
func Builtins() []BuiltinInfo {
	entries, _ := builtinFS.ReadDir("scenarios")
	var out []BuiltinInfo
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".yaml")
		s, err := Builtin(name)
		if err != nil {
			continue
		}
		out = append(out, BuiltinInfo{Name: name, Description: s.Description})
	}
	slices.SortFunc(out, func(a, b BuiltinInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// BuiltinYAML returns the YAML text of a built-in scenario.
func BuiltinYAML(name string) ([]byte, bool) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, false
	}
	data, err := builtinFS.ReadFile(path.Join("scenarios", name+".yaml"))
	return data, err == nil
}

// Builtin loads a built-in scenario by name.
func Builtin(name string) (*Scenario, error) {
	data, ok := BuiltinYAML(name)
	if !ok {
		var names []string
		entries, _ := builtinFS.ReadDir("scenarios")
		for _, e := range entries {
			names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
		}
		return nil, fmt.Errorf("no built-in scenario %q (built-ins: %s)", name, strings.Join(names, ", "))
	}
	return Load(name+".yaml", data)
}
