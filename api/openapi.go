package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// OpenAPIYAML is the API's OpenAPI 3.1 document, the one description of
// every route: the tests hold the server to it, and GET
// /api/v1/openapi.json serves it as JSON.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// servedDoc is the document as JSON and its ETag.
type servedDoc struct {
	json []byte
	etag string
}

// openAPIDoc is made once: the document is part of the binary, so a broken
// one is a broken build, which the api package's tests catch.
var openAPIDoc = func() servedDoc {
	raw, err := OpenAPIJSON(OpenAPIYAML)
	if err != nil {
		panic("api/openapi.yaml: " + err.Error())
	}
	sum := sha256.Sum256(raw)
	return servedDoc{json: raw, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}()

// openAPI serves the document. It is cacheable: a cache may keep it for
// five minutes and then revalidate it with its ETag, which changes only
// when a new build changes the document.
func (s *Server) openAPI(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", openAPIDoc.etag)
	if etagMatches(c.GetHeader("If-None-Match"), openAPIDoc.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDoc.json)
}

// etagMatches reports whether an If-None-Match header names etag (or is
// "*"), weak or strong alike, as RFC 9110 has GET compare them.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// OpenAPIJSON converts a YAML document to JSON. Scalars keep the type YAML
// resolves them to (a quoted "200" stays a string, an unquoted 3.1 a
// number), anchors are expanded, and mapping keys become strings.
func OpenAPIJSON(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	v, err := jsonValue(&root)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode json: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jsonValue is n as a value encoding/json writes in the same shape.
// Mappings become ordered key lists, so the JSON keeps the YAML's order.
func jsonValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: want one document", n.Line)
		}
		return jsonValue(n.Content[0])
	case yaml.AliasNode:
		return jsonValue(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := jsonValue(c)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		out := make(orderedMap, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be scalars", k.Line)
			}
			v, err := jsonValue(vn)
			if err != nil {
				return nil, err
			}
			out = append(out, field{k.Value, v})
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return b, nil
		case "!!int", "!!float":
			// YAML writes numbers JSON cannot (0x1F, 1_000, .inf): the
			// document keeps to decimal ones.
			if !json.Valid([]byte(n.Value)) {
				return nil, fmt.Errorf("line %d: %q: write numbers in decimal", n.Line, n.Value)
			}
			return json.Number(n.Value), nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unexpected yaml node", n.Line)
}

type field struct {
	key   string
	value any
}

// orderedMap is a JSON object that keeps its keys in order.
type orderedMap []field

func (m orderedMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
