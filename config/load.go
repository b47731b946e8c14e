package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

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

// Load reads, expands, strictly decodes, defaults and validates the file;
// kinds says which provider and source kinds exist (app.LoadConfig passes
// app.Kinds). A returned error is Problems when the file was readable YAML.
func Load(path string, kinds Kinds) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, kinds)
}

// Parse is Load for bytes already read. Its problems never carry the
// credentials of a URL (user:password@), however malformed the URL.
func Parse(data []byte, kinds Kinds) (*Config, error) {
	c, err := parse(data, kinds)
	if err == nil {
		return c, nil
	}
	var p Problems
	if errors.As(err, &p) {
		out := make(Problems, len(p))
		for i, line := range p {
			out[i] = Redact(oneLine(line))
		}
		return nil, out
	}
	if r := Redact(err.Error()); r != err.Error() {
		return nil, errors.New(r)
	}
	return nil, err
}

// oneLine keeps a problem on one line and short: YAML's own errors echo
// the value they could not decode, newlines and all.
func oneLine(s string) string {
	s = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
	if len(s) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// userinfo is the user[:password]@ after a "//", in a URL whether or not
// it parses: a malformed api_url is echoed in the problem that names it.
var userinfo = regexp.MustCompile(`//[^/?#@\s"'\x60]*@`)

// Redact replaces the credentials of every URL in s (the userinfo before
// "@") with "REDACTED"; a problem or error about a URL passes through it
// before anyone sees it.
func Redact(s string) string {
	return userinfo.ReplaceAllString(s, "//REDACTED@")
}

func parse(data []byte, kinds Kinds) (*Config, error) {
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
	if len(root.Content) == 0 {
		return nil, Problems{"config is empty"}
	}
	doc := root.Content[0]
	probs := expand(doc, "", refs)
	provs := splitKinds(doc, "providers", reflect.TypeOf(Provider{}), func(kind string) (func() Settings, bool) {
		k, ok := kinds.Providers[kind]
		return k.Settings, ok
	})
	srcs := splitKinds(doc, "sources", reflect.TypeOf(Source{}), func(kind string) (func() Settings, bool) {
		k, ok := kinds.Sources[kind]
		return k.Settings, ok
	})
	probs = append(probs, checkKnown(doc, reflect.TypeOf(Config{}), "")...)
	for _, o := range append(provs, srcs...) {
		probs = append(probs, o.checkKnown()...)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	var c Config
	if err := doc.Decode(&c); err != nil {
		return nil, decodeProblems(err)
	}
	for i, o := range provs {
		if i < len(c.Providers) && o.settings != nil {
			if err := o.node.Decode(o.settings); err != nil {
				return nil, decodeProblems(err)
			}
			c.Providers[i].Settings = o.settings
		}
	}
	for i, o := range srcs {
		if i < len(c.Sources) && o.settings != nil {
			if err := o.node.Decode(o.settings); err != nil {
				return nil, decodeProblems(err)
			}
			c.Sources[i].Settings = o.settings
		}
	}
	c.SetDefaults()
	c.setKindDefaults(kinds)
	if p := c.Validate(kinds); len(p) > 0 {
		return &c, p
	}
	return &c, nil
}

func decodeProblems(err error) Problems {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return Problems(te.Errors)
	}
	return Problems{err.Error()}
}

// own is the part of a provider or source block that belongs to its kind.
type own struct {
	path string
	// node holds the keys that are not common fields.
	node *yaml.Node
	// settings is a new value of the kind's Settings; nil when the kind is
	// unknown (Validate reports it) or has no settings of its own, in
	// which case every key in node is unknown.
	settings Settings
	known    bool
}

func (o own) checkKnown() Problems {
	switch {
	case !o.known:
		return nil
	case o.settings == nil:
		return checkKnown(o.node, reflect.TypeOf(struct{}{}), o.path)
	}
	return checkKnown(o.node, reflect.TypeOf(o.settings), o.path)
}

// splitKinds splits each block of the sequence under key into the common
// fields, which stay in the tree for checkKnown and Decode, and the kind's
// own fields, returned one own per block (in the sequence's order). The
// YAML stays flat, {name: cf, kind: cloudflare, zone: Z}, while the Go
// types do not: zone belongs to purger/cloudflare.
func splitKinds(doc *yaml.Node, key string, common reflect.Type, lookup func(kind string) (func() Settings, bool)) []own {
	seq := mappingValue(doc, key)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	fields := yamlFields(common)
	var out []own
	for i, item := range seq.Content {
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		o := own{path: fmt.Sprintf("%s[%d]", key, i), node: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}}
		if item.Kind != yaml.MappingNode {
			out = append(out, o)
			continue
		}
		// A copy, so that a block used twice through an alias is split
		// twice the same way.
		kept := *item
		kept.Content = nil
		for j := 0; j+1 < len(item.Content); j += 2 {
			if _, ok := fields[item.Content[j].Value]; ok {
				kept.Content = append(kept.Content, item.Content[j], item.Content[j+1])
			} else {
				o.node.Content = append(o.node.Content, item.Content[j], item.Content[j+1])
			}
		}
		seq.Content[i] = &kept
		if k := mappingValue(item, "kind"); k != nil {
			var newSettings func() Settings
			newSettings, o.known = lookup(k.Value)
			if newSettings != nil {
				o.settings = newSettings()
			}
		}
		out = append(out, o)
	}
	return out
}

// mappingValue is the value under key in a mapping node, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
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
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
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
					// The file name is quoted: a problem is one line, whatever
					// the reference holds.
					var pe *fs.PathError
					if errors.As(err, &pe) {
						err = pe.Err
					}
					probs = append(probs, fmt.Sprintf("%s: read secret file %q: %v", path, file, err))
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
			shown := name
			if !envName.MatchString(name) {
				shown = strconv.Quote(name)
			}
			probs = append(probs, fmt.Sprintf("%s: environment variable %s is not set", path, shown))
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
