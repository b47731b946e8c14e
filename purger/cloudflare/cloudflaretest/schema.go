package cloudflaretest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPI is the OpenAPI 3.0.3 fragment for POST /zones/{zone_id}/purge_cache
// (cloudflare/api-schemas, see shared/docs/providers.md §1.9). It is copied
// here rather than read from ../shared because CI's clone may not have that
// tree beside it.
//
//go:embed testdata/cloudflare-purge-openapi.json
var openAPI []byte

const purgePath = "/zones/{zone_id}/purge_cache"

// Schemas are the request and response schemas of the purge operation,
// loaded once from the embedded fragment by kin-openapi.
type Schemas struct {
	// Request is the request body schema (anyOf the six body shapes).
	Request *openapi3.Schema
	// Shapes maps each body key to the alternatives of Request that name
	// it: the anyOf alternatives set no required properties and allow any
	// other property, so the whole-body check alone accepts {"files": 1}
	// through the tags alternative. Checking the alternatives that define
	// the key the body actually uses is what makes the validation bite.
	Shapes map[string][]*openapi3.Schema
	// Success is the 200 response schema; Failure the 4XX one.
	Success *openapi3.Schema
	Failure *openapi3.Schema
}

var (
	schemasOnce sync.Once
	schemas     *Schemas
	schemasErr  error
)

// LoadSchemas parses and validates the embedded fragment.
func LoadSchemas() (*Schemas, error) {
	schemasOnce.Do(func() { schemas, schemasErr = loadSchemas() })
	return schemas, schemasErr
}

func loadSchemas() (*Schemas, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		return nil, fmt.Errorf("cloudflaretest: load openapi fragment: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("cloudflaretest: openapi fragment is invalid: %w", err)
	}
	item := doc.Paths.Value(purgePath)
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		return nil, fmt.Errorf("cloudflaretest: openapi fragment has no POST %s with a body", purgePath)
	}
	mt := item.Post.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil, fmt.Errorf("cloudflaretest: POST %s has no application/json body schema", purgePath)
	}
	s := &Schemas{Request: mt.Schema.Value, Shapes: map[string][]*openapi3.Schema{}}
	for _, alt := range s.Request.AnyOf {
		for prop := range alt.Value.Properties {
			s.Shapes[prop] = append(s.Shapes[prop], alt.Value)
		}
	}
	for _, key := range []string{"files", "tags", "hosts", "prefixes", "purge_everything"} {
		if len(s.Shapes[key]) == 0 {
			return nil, fmt.Errorf("cloudflaretest: no body shape in the fragment defines %q", key)
		}
	}
	resp := func(code string) (*openapi3.Schema, error) {
		r := item.Post.Responses.Value(code)
		if r == nil || r.Value.Content.Get("application/json") == nil {
			return nil, fmt.Errorf("cloudflaretest: POST %s has no %s JSON response", purgePath, code)
		}
		return r.Value.Content.Get("application/json").Schema.Value, nil
	}
	if s.Success, err = resp("200"); err != nil {
		return nil, err
	}
	if s.Failure, err = resp("4XX"); err != nil {
		return nil, err
	}
	return s, nil
}

// ValidateRequest checks a decoded request body against the fragment: the
// whole anyOf, then the alternatives that define the body's one key.
func (s *Schemas) ValidateRequest(body map[string]any, key string) error {
	if err := s.Request.VisitJSON(body); err != nil {
		return err
	}
	var first error
	for _, alt := range s.Shapes[key] {
		err := alt.VisitJSON(body)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		return fmt.Errorf("no body shape defines %q", key)
	}
	return first
}

// ValidateResponse checks a response body the fake (or a test) produced
// against the 200 or 4XX schema.
func (s *Schemas) ValidateResponse(status int, raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	switch {
	case status >= 200 && status < 300:
		return s.Success.VisitJSON(v)
	case status >= 400 && status < 500:
		return s.Failure.VisitJSON(v)
	}
	return nil // 5xx has no schema
}
