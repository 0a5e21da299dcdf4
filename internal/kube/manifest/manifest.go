// Package manifest reads Kubernetes manifests (YAML or JSON, several
// documents, List kinds, directories, `kubectl get -o yaml|json` output)
// into the pods internal/kube analyses. It is the I/O half of `oomkit kube`:
// the model in internal/kube never touches a file.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/oomkit/oomkit/internal/kube"
)

// Manifests is everything read from a set of inputs.
type Manifests struct {
	Workloads   []kube.Workload
	LimitRanges []kube.LimitRangeDoc
	// Skipped are objects of kinds that hold no pods, one note each.
	Skipped []string
	// Errors are documents and inputs that could not be read; each is an
	// *InputError and the rest of the input is still read.
	Errors []error
}

// InputError is a problem with one input or document: where, the field
// path when one is known, and what to do.
type InputError struct {
	Source kube.Source
	// Field is the JSON path of the offending field
	// ("spec.template.spec.containers[1].resources.limits.memory"), or "".
	Field string
	Msg   string
}

// Error prints "file:line: field: message", leaving out what is unknown.
func (e *InputError) Error() string {
	loc := e.Source.File
	if e.Source.Line > 0 {
		loc = e.Source.String()
	}
	if e.Field != "" {
		return loc + ": " + e.Field + ": " + e.Msg
	}
	return loc + ": " + e.Msg
}

// ReadPaths reads every path: "-" is stdin, a directory is walked
// recursively for *.yaml, *.yml and *.json files (in lexical order). Problems
// with single inputs land in m.Errors; nothing is fatal.
func ReadPaths(paths []string, stdin io.Reader, m *Manifests) {
	for _, p := range paths {
		if p == "-" {
			ReadManifests(stdin, "-", m)
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: p}, Msg: describeOSError(err)})
			continue
		}
		if !fi.IsDir() {
			readFile(p, m)
			continue
		}
		var files []string
		root := p
		if lfi, err := os.Lstat(p); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
			// WalkDir does not follow a symlinked root; with a trailing
			// separator the walk starts in the directory it names.
			root = p + string(filepath.Separator)
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: path}, Msg: describeOSError(err)})
				return nil
			}
			if d.IsDir() || !isManifestName(path) {
				return nil
			}
			// A FIFO, socket or device found in the walk would block or
			// never end: only regular files (or links to them) are read.
			// One named on the command line is read (kube <(kubectl …)).
			fi, err := os.Stat(path)
			switch {
			case err != nil:
				m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: path}, Msg: describeOSError(err)})
				return nil
			case !fi.Mode().IsRegular():
				m.Skipped = append(m.Skipped, fmt.Sprintf("%s: not a regular file (%s), skipped", path, fileKind(fi.Mode())))
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: p}, Msg: describeOSError(err)})
		}
		if len(files) == 0 {
			m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: p}, Msg: "directory holds no .yaml, .yml or .json files"})
			continue
		}
		slices.Sort(files)
		for _, f := range files {
			readFile(f, m)
		}
	}
}

// fileKind names a file type that is not a regular file.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

func isManifestName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readFile(p string, m *Manifests) {
	f, err := os.Open(p)
	if err != nil {
		m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: p}, Msg: describeOSError(err)})
		return
	}
	defer f.Close()
	ReadManifests(f, p, m)
}

// describeOSError turns a file-system error into words with a hint.
func describeOSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file or directory (check the path)"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied (make the file readable or run as its owner)"
	}
	return err.Error()
}

// maxManifestBytes bounds one input; larger inputs are refused rather than
// read into memory.
const maxManifestBytes = 256 << 20

// ReadManifests reads YAML or JSON from r (several documents separated by
// "---", List kinds, `kubectl get -o yaml|json` output) and appends what it
// finds to m. name is used in messages. Problems land in m.Errors.
func ReadManifests(r io.Reader, name string, m *Manifests) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: name}, Msg: "read: " + describeOSError(err)})
		return
	}
	if len(data) > maxManifestBytes {
		m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: name}, Msg: fmt.Sprintf("larger than %d MiB; split it into several files", maxManifestBytes>>20)})
		return
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	found := false
	for _, doc := range splitDocuments(data) {
		if isBlankYAML(doc.text) {
			continue
		}
		found = true
		readDocument(doc.text, kube.Source{File: name, Line: doc.line}, m)
	}
	if !found {
		m.Errors = append(m.Errors, &InputError{Source: kube.Source{File: name}, Msg: "empty: no Kubernetes objects in it"})
	}
}

type document struct {
	text []byte
	line int // first line of text, 1-based
}

// splitDocuments cuts a YAML stream at "---" separator lines, remembering
// where each document starts.
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine, line := 0, 1, 1
	for i := 0; i <= len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		next := len(data) + 1
		if end >= 0 {
			end += i
			next = end + 1
		} else {
			end = len(data)
		}
		l := bytes.TrimRight(data[i:end], "\r")
		if isSeparator(l) {
			docs = append(docs, document{data[start:i], startLine})
			start, startLine = min(next, len(data)), line+1
		}
		i = next
		line++
	}
	if start <= len(data) {
		docs = append(docs, document{data[start:], startLine})
	}
	return docs
}

// isSeparator reports a "---" line, optionally followed by spaces or a comment.
func isSeparator(l []byte) bool {
	if !bytes.HasPrefix(l, []byte("---")) {
		return false
	}
	rest := bytes.TrimLeft(l[3:], " \t")
	return len(rest) == 0 || rest[0] == '#'
}

// isBlankYAML reports a document with nothing but blank lines and comments.
func isBlankYAML(doc []byte) bool {
	for len(doc) > 0 {
		i := bytes.IndexByte(doc, '\n')
		var l []byte
		if i < 0 {
			l, doc = doc, nil
		} else {
			l, doc = doc[:i], doc[i+1:]
		}
		l = bytes.TrimSpace(l)
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

// readDocument converts one document to JSON and reads the object in it.
// src.Line is the document's first line; objects are reported at their
// first line that is not blank or a comment.
func readDocument(doc []byte, src kube.Source, m *Manifests) {
	obj := kube.Source{File: src.File, Line: src.Line + leadingBlankLines(doc)}
	if trimmed := bytes.TrimSpace(doc); len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		// JSON (kubectl -o json) is read as it is, checked by streaming
		// its tokens; JSON that is not valid goes to the YAML reader,
		// which names the line.
		if err := checkJSON(trimmed, obj); err != nil {
			m.Errors = append(m.Errors, err)
			return
		}
		var env envelope
		if err := json.Unmarshal(trimmed, &env); err != nil {
			m.Errors = append(m.Errors, decodeError(trimmed, obj, "", "", err))
			return
		}
		readEnvelope(trimmed, &env, obj, "", m)
		return
	}
	j, err := toJSON(doc, src)
	if err != nil {
		m.Errors = append(m.Errors, err)
		return
	}
	if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		return
	}
	readObject(j, obj, "", m)
}

// leadingBlankLines counts the blank and comment lines before a
// document's content.
func leadingBlankLines(doc []byte) int {
	n := 0
	for len(doc) > 0 {
		i := bytes.IndexByte(doc, '\n')
		if i < 0 {
			return n
		}
		l := bytes.TrimSpace(doc[:i])
		if len(l) > 0 && l[0] != '#' {
			return n
		}
		n++
		doc = doc[i+1:]
	}
	return n
}

// yamlError rebases the parser's "line N" on the document's first line.
func yamlError(err error, src kube.Source, doc []byte) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := src.Line
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ":"); ok {
			if k, err := strconv.Atoi(n); err == nil {
				msg = strings.TrimSpace(after)
				// go-yaml prints parser errors' lines 0-based and scanner
				// errors' 1-based (decode.go, parser.fail).
				if strings.HasPrefix(msg, "did not find expected") {
					k++
				}
				line = src.Line + k - 1
			}
		}
	}
	ie := &InputError{Source: kube.Source{File: src.File, Line: line}, Msg: "malformed YAML: " + msg + " (check indentation and quoting)"}
	if strings.Contains(msg, "max depth") {
		// The parser names no key: the line where the nesting starts
		// usually does ("  key: [[[[…").
		ie.Field = keyOnLine(doc, line-src.Line)
		ie.Msg = "nested deeper than any manifest: " + msg
	}
	return ie
}

// keyOnLine returns the mapping key that line i (0-based) of doc starts
// with, or "".
func keyOnLine(doc []byte, i int) string {
	lines := bytes.SplitN(doc, []byte("\n"), i+2)
	if i < 0 || i >= len(lines) {
		return ""
	}
	l := strings.TrimLeft(string(lines[i]), " \t-")
	k, _, ok := strings.Cut(l, ":")
	if !ok || strings.ContainsAny(k, "[]{},#\"'") || len(k) > 253 {
		return ""
	}
	return strings.TrimSpace(k)
}

// envelope is enough of an object to dispatch on, and a List's items.
type envelope struct {
	Kind     string            `json:"kind"`
	Metadata metav1.ObjectMeta `json:"metadata"`
	Items    []json.RawMessage `json:"items"`
}

// Workload kinds and where their pod template sits.
type templated struct {
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Template    *corev1.PodTemplateSpec `json:"template"`
		JobTemplate *struct {
			Spec struct {
				Template *corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
	// Template is PodTemplate's own field.
	Template *corev1.PodTemplateSpec `json:"template"`
}

// podSpecPath is where each kind keeps its pod spec, for field paths.
var podSpecPath = map[string]string{
	"Pod":                   "spec",
	"Deployment":            "spec.template.spec",
	"StatefulSet":           "spec.template.spec",
	"DaemonSet":             "spec.template.spec",
	"ReplicaSet":            "spec.template.spec",
	"ReplicationController": "spec.template.spec",
	"Job":                   "spec.template.spec",
	"CronJob":               "spec.jobTemplate.spec.template.spec",
	"PodTemplate":           "template.spec",
}

// readObject reads one JSON object; path is its location inside a List
// ("items[3]."), "" at the top.
func readObject(j []byte, src kube.Source, path string, m *Manifests) {
	if len(bytes.TrimSpace(j)) > 0 && bytes.TrimSpace(j)[0] != '{' {
		m.Errors = append(m.Errors, &InputError{Source: src, Field: strings.TrimSuffix(path, "."), Msg: "not a Kubernetes object (expected a mapping with apiVersion and kind)"})
		return
	}
	var env envelope
	if err := json.Unmarshal(j, &env); err != nil {
		m.Errors = append(m.Errors, decodeError(j, src, path, "", err))
		return
	}
	readEnvelope(j, &env, src, path, m)
}

// readEnvelope reads the object j whose envelope is already decoded.
func readEnvelope(j []byte, env *envelope, src kube.Source, path string, m *Manifests) {
	kind, tm := env.Kind, env
	switch {
	case kind == "":
		m.Errors = append(m.Errors, &InputError{Source: src, Field: strings.TrimSuffix(path, "."), Msg: "no kind: not a Kubernetes object (add apiVersion and kind)"})
		return
	case kind == "List" || strings.HasSuffix(kind, "List"):
		for i, item := range env.Items {
			readObject(item, src, fmt.Sprintf("%sitems[%d].", path, i), m)
		}
		return
	case kind == "LimitRange":
		var lr corev1.LimitRange
		if err := json.Unmarshal(j, &lr); err != nil {
			m.Errors = append(m.Errors, decodeError(j, src, path, kind, err))
			return
		}
		m.LimitRanges = append(m.LimitRanges, kube.LimitRangeDoc{LimitRange: &lr, Source: src})
		return
	}
	specPath, ok := podSpecPath[kind]
	if !ok {
		m.Skipped = append(m.Skipped, fmt.Sprintf("%s: %s/%s holds no pods, skipped", src, kind, objectName(tm.Metadata)))
		return
	}
	w := kube.Workload{Kind: kind, Name: objectName(tm.Metadata), Namespace: tm.Metadata.Namespace, Source: src}
	if kind == "Pod" {
		var pod corev1.Pod
		if err := json.Unmarshal(j, &pod); err != nil {
			m.Errors = append(m.Errors, decodeError(j, src, path, kind, err))
			return
		}
		w.Pod = &pod
	} else {
		var t templated
		if err := json.Unmarshal(j, &t); err != nil {
			m.Errors = append(m.Errors, decodeError(j, src, path, kind, err))
			return
		}
		tmpl := t.Spec.Template
		switch kind {
		case "CronJob":
			tmpl = nil
			if t.Spec.JobTemplate != nil {
				tmpl = t.Spec.JobTemplate.Spec.Template
			}
		case "PodTemplate":
			tmpl = t.Template
		}
		if tmpl == nil {
			m.Errors = append(m.Errors, &InputError{Source: src, Field: path + strings.TrimSuffix(specPath, ".spec"), Msg: kind + "/" + w.Name + " has no pod template (add one)"})
			return
		}
		w.Pod = &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
		w.Pod.Name, w.Pod.Namespace = w.Name, w.Namespace
	}
	if len(w.Pod.Spec.Containers) == 0 {
		m.Errors = append(m.Errors, &InputError{Source: src, Field: path + specPath + ".containers", Msg: kind + "/" + w.Name + " has no containers (add at least one)"})
		return
	}
	m.Workloads = append(m.Workloads, w)
}

func objectName(meta metav1.ObjectMeta) string {
	switch {
	case meta.Name != "":
		return meta.Name
	case meta.GenerateName != "":
		return meta.GenerateName + "*"
	}
	return "(unnamed)"
}

// decodeError explains why a typed decode failed: for an invalid quantity it
// finds the field path by walking the generic document, since
// resource.Quantity's error does not carry one.
func decodeError(j []byte, src kube.Source, path, kind string, err error) error {
	var generic any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if dec.Decode(&generic) == nil {
		if field, val, qerr := findBadQuantity(generic, kind); qerr != nil {
			return &InputError{Source: src, Field: path + field, Msg: fmt.Sprintf("%s is not a valid quantity (write e.g. 512Mi, 2Gi or 500m)", val)}
		}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		return &InputError{Source: src, Field: path + field, Msg: fmt.Sprintf("a %s here cannot be read as %s (fix the manifest's structure)", te.Value, te.Type.String())}
	}
	return &InputError{Source: src, Field: strings.TrimSuffix(path, "."), Msg: "cannot be read: " + err.Error()}
}

// findBadQuantity walks the places a pod spec or LimitRange holds
// quantities and returns the first that does not parse.
func findBadQuantity(doc any, kind string) (field, value string, err error) {
	root, _ := doc.(map[string]any)
	if kind == "LimitRange" {
		limits, _ := dig(root, "spec", "limits").([]any)
		for i, item := range limits {
			it, _ := item.(map[string]any)
			for _, key := range []string{"default", "defaultRequest", "max", "min", "maxLimitRequestRatio"} {
				if f, v, err := checkList(it[key], fmt.Sprintf("spec.limits[%d].%s", i, key)); err != nil {
					return f, v, err
				}
			}
		}
		return "", "", nil
	}
	specPath := podSpecPath[kind]
	var spec map[string]any
	cur := any(root)
	for _, k := range strings.Split(specPath, ".") {
		cur = dig(cur, k)
	}
	spec, _ = cur.(map[string]any)
	if spec == nil {
		return "", "", nil
	}
	for _, list := range []string{"initContainers", "containers", "ephemeralContainers"} {
		cs, _ := spec[list].([]any)
		for i, c := range cs {
			for _, rl := range []string{"requests", "limits"} {
				if f, v, err := checkList(dig(c, "resources", rl), fmt.Sprintf("%s.%s[%d].resources.%s", specPath, list, i, rl)); err != nil {
					return f, v, err
				}
			}
		}
	}
	for _, rl := range []string{"requests", "limits"} {
		if f, v, err := checkList(dig(spec, "resources", rl), specPath+".resources."+rl); err != nil {
			return f, v, err
		}
	}
	return checkList(spec["overhead"], specPath+".overhead")
}

// checkList parses each value of a resource list.
func checkList(l any, path string) (field, value string, err error) {
	m, _ := l.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var s string
		switch v := m[k].(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		default:
			b, _ := json.Marshal(v)
			return path + "." + k, string(b), errors.New("not a quantity")
		}
		if _, err := resource.ParseQuantity(s); err != nil {
			return path + "." + k, strconv.Quote(s), err
		}
	}
	return "", "", nil
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
