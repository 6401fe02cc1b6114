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
		"wait":      wait,
		"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"when":      func(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04:05 UTC") },
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

// countdown is the time left until t as m:ss, or h:mm:ss from an hour, 0:00 once it has
// passed (as app.js's clock).
func countdown(t time.Time) string {
	s := int(max(time.Until(t).Round(time.Second), 0) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s%3600/60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// wait is an estimated wait of s seconds in words (as app.js's waitText).
func wait(s int64) string {
	switch {
	case s <= 0:
		return "none"
	case s < 60:
		return fmt.Sprintf("about %d s", s)
	case s < 3600:
		return fmt.Sprintf("about %d min", (s+30)/60)
	}
	return fmt.Sprintf("about %d h", (s+1800)/3600)
}
