package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
)

// toJSON converts one YAML (or JSON) document to JSON as kubectl reads it,
// refusing what kubectl and the API server refuse, each at its own line
// and key: a key given twice in one mapping (kubectl's strict decoding),
// .inf and .nan (JSON has no such number), and, in the objects oomkit
// reads, a resource quantity that is not one, is negative, or (for memory)
// is not a whole number of bytes below 8 EiB. A quantity is checked here
// before the typed decode because resource.ParseQuantity takes minutes
// over "1e999999999". src.Line is the document's first line.
func toJSON(doc []byte, src kube.Source) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, yamlError(err, src, doc)
	}
	if root.Kind == 0 { // empty document
		return []byte("null"), nil
	}
	c := converter{src: src, budget: 4*len(doc) + 1<<20}
	if err := c.node(&root, "", false); err != nil {
		return nil, err
	}
	return c.out.Bytes(), nil
}

// converter writes a yaml.Node tree as JSON.
type converter struct {
	src kube.Source
	out bytes.Buffer
	// budget bounds the output and the keys merge keys visit: aliases can
	// make a small document expand without limit (the "billion laughs").
	budget int
	merged int
	// open are the anchored nodes being written: an alias to one of them
	// (inside the value it names) would never end.
	open map[*yaml.Node]bool
}

// enter marks n as being written, failing if it already is.
func (c *converter) enter(alias *yaml.Node, n *yaml.Node, path string) error {
	if c.open[n] {
		return c.fail(alias, path, "alias *%s inside the value it names: it never ends", alias.Value)
	}
	if c.open == nil {
		c.open = map[*yaml.Node]bool{}
	}
	c.open[n] = true
	return nil
}

// errAliasBomb ends a conversion whose aliases expand past the budget.
var errAliasBomb = errors.New("aliases expand to far more than the document's own size")

func (c *converter) fail(n *yaml.Node, path, format string, args ...any) error {
	return &InputError{Source: kube.Source{File: c.src.File, Line: c.src.Line + n.Line - 1}, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// node writes n; path is its JSON path ("spec.containers[0]"); checked:
// n's object is one whose quantities oomkit reads (a pod-holding kind or
// a LimitRange).
func (c *converter) node(n *yaml.Node, path string, checked bool) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			c.out.WriteString("null")
			return nil
		}
		return c.node(n.Content[0], path, checked)
	case yaml.AliasNode:
		if c.out.Len() > c.budget {
			return c.fail(n, path, "%v (write the values out)", errAliasBomb)
		}
		if err := c.enter(n, n.Alias, path); err != nil {
			return err
		}
		defer delete(c.open, n.Alias)
		return c.node(n.Alias, path, checked)
	case yaml.SequenceNode:
		c.out.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				c.out.WriteByte(',')
			}
			if err := c.node(e, fmt.Sprintf("%s[%d]", path, i), checked); err != nil {
				return err
			}
		}
		c.out.WriteByte(']')
		return nil
	case yaml.MappingNode:
		return c.mapping(n, path, checked)
	}
	return c.scalar(n, path)
}

// mapping writes a mapping, refusing a key given twice, and checks the
// quantities of a resource list.
func (c *converter) mapping(n *yaml.Node, path string, checked bool) error {
	var merged []*yaml.Node
	defer func() {
		for _, m := range merged {
			delete(c.open, m)
		}
	}()
	pairs, err := c.pairs(n, path, 0, &merged)
	if err != nil {
		return err
	}
	// A mapping with a kind is an object: a List's items are objects of
	// their own kinds.
	for _, p := range pairs {
		if p.key == "kind" && p.value.Kind == yaml.ScalarNode {
			_, pods := podSpecPath[p.value.Value]
			checked = pods || p.value.Value == "LimitRange"
		}
	}
	quantities := checked && isResourceList(path)
	c.out.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			c.out.WriteByte(',')
		}
		writeString(&c.out, p.key)
		c.out.WriteByte(':')
		field := p.key
		if path != "" {
			field = path + "." + p.key
		}
		switch {
		case quantities:
			if err := c.quantity(p.value, field, p.key); err != nil {
				return err
			}
		case checked && p.key == "sizeLimit": // an emptyDir's
			if err := c.quantity(p.value, field, ""); err != nil {
				return err
			}
		}
		if err := c.node(p.value, field, checked); err != nil {
			return err
		}
	}
	c.out.WriteByte('}')
	return nil
}

type pair struct {
	key   string
	value *yaml.Node
}

// pairs lists a mapping's keys and values in order, with the keys of
// merge keys ("<<: *defaults") where the mapping does not set them
// itself; a key the mapping sets twice is an error, as in kubectl.
// The mappings merged are added to *entered and stay open (c.enter)
// until the caller has written the values: a value may hold an alias to
// the mapping it came from.
func (c *converter) pairs(n *yaml.Node, path string, depth int, entered *[]*yaml.Node) ([]pair, error) {
	if depth > 100 {
		return nil, c.fail(n, path, "merge keys nested more than 100 deep")
	}
	var own, merged []pair
	seen := map[string]int{} // key → line
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			for _, m := range mergeSources(v, 0) {
				c.merged += len(m.Content)
				if c.merged > c.budget {
					return nil, c.fail(k, path, "%v (write the values out)", errAliasBomb)
				}
				if err := c.enter(v, m, path); err != nil {
					return nil, err
				}
				*entered = append(*entered, m)
				ps, err := c.pairs(m, path, depth+1, entered)
				if err != nil {
					return nil, err
				}
				merged = append(merged, ps...)
			}
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, c.fail(k, path, "a key that is a mapping or a list: Kubernetes keys are strings")
		}
		if line, dup := seen[k.Value]; dup {
			return nil, c.fail(k, joinPath(path, k.Value), "key %q given twice in one mapping (first at line %d): kubectl refuses this; keep one", k.Value, c.src.Line+line-1)
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k.Value, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.key]; !ok {
			seen[p.key] = 0
			own = append(own, p)
		}
	}
	return own, nil
}

// mergeSources are the mappings a merge key's value names (a mapping, an
// alias to one, or a list of those; YAML's merge key type).
func mergeSources(v *yaml.Node, depth int) []*yaml.Node {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		if depth > 0 {
			return nil // a list inside the list: not a merge source
		}
		var ms []*yaml.Node
		for _, e := range v.Content {
			ms = append(ms, mergeSources(e, depth+1)...)
		}
		return ms
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// isResourceList reports whether the mapping at path holds quantities:
// a container's or pod's resources.limits/requests, a pod's overhead, a
// LimitRange item's default, defaultRequest, max, min or
// maxLimitRequestRatio.
func isResourceList(path string) bool {
	i := strings.LastIndexByte(path, '.')
	last := path[i+1:]
	switch last {
	case "limits", "requests":
		return strings.HasSuffix(path[:max(i, 0)], "resources")
	case "overhead", "allocatedResources":
		return true
	case "default", "defaultRequest", "max", "min", "maxLimitRequestRatio":
		return strings.Contains(path, "limits[")
	}
	return false
}

// quantity checks one entry of a resource list: memory-like resources as
// bytes (bytesize.ParseQuantity), any other as a quantity.
func (c *converter) quantity(v *yaml.Node, field, resource string) error {
	for v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		return nil // the typed decode names a wrong type
	}
	var err error
	if resource == "memory" || resource == "ephemeral-storage" || strings.HasPrefix(resource, "hugepages-") {
		_, err = bytesize.ParseQuantity(v.Value)
	} else {
		err = bytesize.CheckQuantity(v.Value)
	}
	if err != nil {
		return c.fail(v, field, "%v", err)
	}
	return nil
}

// scalar writes a scalar as the JSON value YAML resolves it to.
func (c *converter) scalar(n *yaml.Node, path string) error {
	switch n.ShortTag() {
	case "!!null":
		c.out.WriteString("null")
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return c.fail(n, path, "%q is not a boolean", n.Value)
		}
		c.out.WriteString(strconv.FormatBool(b))
	case "!!int", "!!float":
		if v := n.Value; v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && json.Valid([]byte(v)) {
			c.out.WriteString(n.Value) // a JSON number as written: no precision lost
			return nil
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return c.fail(n, path, "%q is not a number JSON can hold (quote it if it is text)", n.Value)
		}
		if n.ShortTag() == "!!int" && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			c.out.WriteString(strconv.FormatInt(int64(f), 10))
			return nil
		}
		c.out.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	default:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle|yaml.TaggedStyle) == 0 {
			// kubectl reads YAML 1.1 (sigs.k8s.io/yaml): yes, no, on, off,
			// y and n unquoted are booleans there.
			if b, ok := yaml11Bools[n.Value]; ok {
				c.out.WriteString(strconv.FormatBool(b))
				return nil
			}
		}
		writeString(&c.out, n.Value)
	}
	return nil
}

// yaml11Bools are YAML 1.1's booleans that YAML 1.2 reads as strings.
var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// writeString writes s as a JSON string.
func writeString(b *bytes.Buffer, s string) {
	j, _ := json.Marshal(s)
	b.Write(j)
}

// checkJSON checks a JSON document for what toJSON refuses in YAML (a key
// given twice, a bad quantity in an object oomkit reads) by streaming its
// tokens: a `kubectl get -o json` List of thousands of pods is read by
// encoding/json directly, without a yaml.Node tree of it. It returns nil
// for text that is not valid JSON (the YAML reader then names the line).
func checkJSON(doc []byte, src kube.Source) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	j := jsonChecker{doc: doc, src: src, dec: dec}
	err := j.value("", 0)
	var ie *InputError
	if errors.As(err, &ie) {
		return err
	}
	return nil
}

type jsonChecker struct {
	doc []byte
	src kube.Source
	dec *json.Decoder
}

// objectScope is an object with a kind of its own (the document, or a
// List's item): quantity errors found in it count only if its kind is
// one oomkit reads, and its kind may come after them (kubectl prints
// "items" before "kind").
type objectScope struct {
	kind string
	bad  error // the first bad quantity in it
}

func (j *jsonChecker) fail(off int64, path, format string, args ...any) error {
	line := j.src.Line + bytes.Count(j.doc[:min(int(off), len(j.doc))], []byte("\n"))
	return &InputError{Source: kube.Source{File: j.src.File, Line: line}, Field: path, Msg: fmt.Sprintf(format, args...)}
}

// value reads one value at path; scope is the object scope it is in.
func (j *jsonChecker) value(path string, depth int) error {
	return j.read(path, depth, nil, false)
}

func (j *jsonChecker) read(path string, depth int, scope *objectScope, quantities bool) error {
	tok, err := j.dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if d == '[' {
		for i := 0; j.dec.More(); i++ {
			item := fmt.Sprintf("%s[%d]", path, i)
			s := scope
			if path == "items" || strings.HasSuffix(path, ".items") {
				s = nil // a List's items are objects of their own
			}
			if err := j.read(item, depth+1, s, false); err != nil {
				return err
			}
		}
		_, err := j.dec.Token()
		return err
	}
	own := scope == nil
	if own {
		scope = &objectScope{}
	}
	seen := map[string]bool{}
	for j.dec.More() {
		koff := j.dec.InputOffset()
		kt, err := j.dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		field := joinPath(path, key)
		if seen[key] {
			return j.fail(koff, field, "key %q given twice in one object: kubectl refuses this; keep one", key)
		}
		seen[key] = true
		if quantities || key == "sizeLimit" {
			voff := j.dec.InputOffset()
			vt, err := j.dec.Token()
			if err != nil {
				return err
			}
			if err := j.quantity(vt, voff, field, key, quantities); err != nil && scope.bad == nil {
				scope.bad = err
			}
			if d, ok := vt.(json.Delim); ok && (d == '{' || d == '[') {
				if err := j.skip(); err != nil {
					return err
				}
			}
			continue
		}
		if key == "kind" && own {
			// Peek at the kind without losing the token.
			kt, err := j.dec.Token()
			if err != nil {
				return err
			}
			if s, ok := kt.(string); ok {
				scope.kind = s
			} else if d, ok := kt.(json.Delim); ok && (d == '{' || d == '[') {
				if err := j.skip(); err != nil {
					return err
				}
			}
			continue
		}
		if err := j.read(field, depth+1, scope, isResourceList(field)); err != nil {
			return err
		}
	}
	if _, err := j.dec.Token(); err != nil {
		return err
	}
	if own && scope.bad != nil {
		if _, pods := podSpecPath[scope.kind]; pods || scope.kind == "LimitRange" {
			return scope.bad
		}
	}
	return nil
}

// skip reads the rest of an object or array whose opening token was read.
func (j *jsonChecker) skip() error {
	for n := 1; n > 0; {
		t, err := j.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				n++
			} else {
				n--
			}
		}
	}
	return nil
}

// quantity checks one entry of a resource list (inList) or a sizeLimit.
func (j *jsonChecker) quantity(t json.Token, off int64, field, resource string, inList bool) error {
	var s string
	switch v := t.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	default:
		return nil // the typed decode names a wrong type
	}
	var err error
	if inList && (resource == "memory" || resource == "ephemeral-storage" || strings.HasPrefix(resource, "hugepages-")) {
		_, err = bytesize.ParseQuantity(s)
	} else {
		err = bytesize.CheckQuantity(s)
	}
	if err != nil {
		// The offset is before the value's leading separator: name the
		// value's own line.
		for int(off) < len(j.doc) && (j.doc[off] == ':' || j.doc[off] == ' ' || j.doc[off] == '\n' || j.doc[off] == '\t' || j.doc[off] == '\r') {
			off++
		}
		return j.fail(off, field, "%v", err)
	}
	return nil
}
