package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problems is every problem found in a config, each naming its field path.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return p[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(p), strings.Join(p, "\n  "))
}

// Load reads, expands, strictly decodes, defaults and validates the file.
// A returned error is Problems when the file was readable YAML.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse is Load for bytes already read.
func Parse(data []byte) (*Config, error) {
	// ${...} references are swapped for plain tokens before parsing: in
	// YAML's flow style ({token: ${TOKEN}}) the braces would otherwise end
	// the mapping. They are expanded after parsing, in scalar values only.
	var refs []string
	data = envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		refs = append(refs, string(m))
		return []byte(fmt.Sprintf("PHENVREF%dX", len(refs)-1))
	})
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var probs Problems
	if len(root.Content) == 0 {
		return nil, Problems{"config is empty"}
	}
	doc := root.Content[0]
	probs = append(probs, checkKnown(doc, reflect.TypeOf(Config{}), "")...)
	probs = append(probs, expand(doc, "", refs)...)
	if len(probs) > 0 {
		return nil, probs
	}
	var c Config
	if err := doc.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, Problems(te.Errors)
		}
		return nil, Problems{err.Error()}
	}
	c.SetDefaults()
	if p := c.Validate(); len(p) > 0 {
		return &c, p
	}
	return &c, nil
}

// checkKnown walks the YAML tree beside the Go type and reports every key
// the type does not have, by path. yaml.v3's own KnownFields reports only a
// line number and the Go type name, which a user cannot map to their file.
func checkKnown(n *yaml.Node, t reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var probs Problems
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type error the decoder reports
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				probs = append(probs, fmt.Sprintf("%s: unknown field", join(path, k.Value)))
				continue
			}
			probs = append(probs, checkKnown(v, ft, join(path, k.Value))...)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			probs = append(probs, checkKnown(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			probs = append(probs, checkKnown(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))...)
		}
	}
	return probs
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	envRef   = regexp.MustCompile(`\$\{([^}]*)\}`)
	refToken = regexp.MustCompile(`PHENVREF[0-9]+X`)
)

// expand replaces ${VAR}, ${VAR:-default} and ${file:PATH} in every scalar
// value. Expansion happens on the parsed tree, so a secret containing YAML
// syntax cannot change the file's structure. An unset variable without a
// default is a problem: a silently empty secret would disable a check.
func expand(n *yaml.Node, path string, refs []string) Problems {
	var probs Problems
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			probs = append(probs, expand(c, p, refs)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			probs = append(probs, expand(n.Content[i+1], join(path, n.Content[i].Value), refs)...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "PHENVREF") {
			return nil
		}
		n.Value = refToken.ReplaceAllStringFunc(n.Value, func(tok string) string {
			i, _ := strconv.Atoi(tok[len("PHENVREF") : len(tok)-1])
			if i >= len(refs) {
				return tok
			}
			ref := refs[i]
			expr := ref[2 : len(ref)-1]
			if file, ok := strings.CutPrefix(expr, "file:"); ok {
				b, err := os.ReadFile(file)
				if err != nil {
					probs = append(probs, fmt.Sprintf("%s: read secret file: %v", path, err))
					return ""
				}
				return string(bytes.TrimRight(b, "\r\n"))
			}
			name, def, hasDef := strings.Cut(expr, ":-")
			if v, ok := os.LookupEnv(name); ok && v != "" {
				return v
			}
			if hasDef {
				return def
			}
			probs = append(probs, fmt.Sprintf("%s: environment variable %s is not set", path, name))
			return ""
		})
		// An expanded value is a string, whatever it looks like; the tag
		// is reset so that "${PORT}" can still fill an int field.
		if n.Tag == "!!str" && n.Style == 0 {
			n.Tag = ""
		}
	}
	return probs
}

// ByteSize is a size in bytes written as 1048576, 512KB, 1MiB or 1MB.
type ByteSize int64

// UnmarshalYAML reads a plain number or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses a size with an optional B, KB, KiB, MB, MiB, GB or
// GiB unit (KB and KiB both mean 1024).
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mul    int64
	}{{"GiB", 1 << 30}, {"GB", 1 << 30}, {"MiB", 1 << 20}, {"MB", 1 << 20}, {"KiB", 1 << 10}, {"KB", 1 << 10}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			s = strings.TrimSpace(s[:len(s)-len(u.suffix)])
			mul = u.mul
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 1048576, 512KB or 1MiB)", s)
	}
	return ByteSize(n * mul), nil
}
