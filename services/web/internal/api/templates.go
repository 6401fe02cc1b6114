package api

import (
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"ticketing/services/web/internal/app"
)

// parseTemplates parses each page with the layout it fills.
func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"price":     formatPrice,
		"countdown": countdown,
		"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"open":      func(o app.Order) bool { return o.Open() },
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimPrefix(n, "templates/")
		if name == "layout.html" {
			continue
		}
		out[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n))
	}
	return out
}

// formatPrice writes an API price (a decimal number of dollars) with two decimals: 20.5 is
// "$20.50".
func formatPrice(p interface{ String() string }) string {
	s := p.String()
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" {
		whole = "0"
	}
	frac = (frac + "00")[:2]
	return "$" + whole + "." + frac
}

// countdown is the time left until t as m:ss, 0:00 once it has passed.
func countdown(t time.Time) string {
	left := max(time.Until(t).Round(time.Second), 0)
	return fmt.Sprintf("%d:%02d", int(left/time.Minute), int(left%time.Minute/time.Second))
}
