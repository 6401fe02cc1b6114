// Package web holds what every service's HTTP side shares: JSON decoding with limits and
// field-level errors, the error shape of the API, the middleware stack and health routes.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"ticketing/common/errs"
)

// MaxBody is the largest request body accepted.
const MaxBody = 1 << 20

// SaturatedRetryAfter is what a 503 for a timed-out store or dependency asks the client to wait.
const SaturatedRetryAfter = time.Second

// ErrorBody is the error shape of every answer that is not a success.
type ErrorBody struct {
	Errors []ErrorItem `json:"errors"`
}

// ErrorItem is one error; Field names the input at fault for validation errors.
type ErrorItem struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Respond writes v as JSON with status.
func Respond(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// Error writes err in the error shape with the status of its kind. A fault (5xx) is logged
// with its cause and shown to the client as a plain message only. A fault whose cause is a
// deadline (the store or a dependency did not answer in time: the process is saturated) is
// answered 503 with Retry-After, so that clients back off instead of reading a 500.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	var e *errs.Error
	if !errors.As(err, &e) {
		e = errs.Wrap(errs.Internal, err, "")
	}
	if e.Kind == errs.Internal && errors.Is(err, context.DeadlineExceeded) {
		e = &errs.Error{Kind: errs.Unavailable, RetryAfter: SaturatedRetryAfter, Err: err}
	}
	status := e.Kind.Status()
	body := ErrorBody{}
	if status >= 500 {
		slog.Default().ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		body.Errors = []ErrorItem{{Message: http.StatusText(status)}}
	} else if len(e.Fields) > 0 {
		for _, f := range e.Fields {
			body.Errors = append(body.Errors, ErrorItem{Message: f.Message, Field: f.Field})
		}
	} else {
		body.Errors = []ErrorItem{{Message: e.Message}}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	Respond(w, status, body)
}

// Decode reads a JSON object body into dst: at most MaxBody bytes, unknown fields refused,
// one value only. As in encoding/json, field names match without regard to case. Every failure is an *errs.Error of a 4xx kind naming what was wrong.
func Decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errs.New(errs.UnsupportedMedia, "Content-Type must be application/json")
		}
	}
	return DecodeReader(http.MaxBytesReader(w, r.Body, MaxBody), dst)
}

// DecodeReader is Decode without the HTTP parts, for fuzzing and for raw bodies.
func DecodeReader(body io.Reader, dst any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return errs.New(errs.Invalid, "Request body must hold a single JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return errs.New(errs.Invalid, "Request body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errs.New(errs.TooLarge, "Request body must not exceed %d bytes", MaxBody)
	case errors.Is(err, io.EOF):
		return errs.New(errs.Invalid, "Request body is required")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return errs.New(errs.Invalid, "Request body is not valid JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errs.New(errs.Invalid, "Request body must be a JSON object")
		}
		return errs.Field(typ.Field, fmt.Sprintf("%s must be a %s", typ.Field, jsonType(typ.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return errs.New(errs.Invalid, "Request body has a field with an empty name")
		}
		return errs.Field(name, fmt.Sprintf("%s is not a known field", name))
	default:
		return errs.New(errs.Invalid, "Request body is not valid JSON")
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "float32", "float64", "int", "int64", "int32", "uint", "uint64", "uint32":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	default:
		return "object"
	}
}
