// Package gohttphandler serves the greeting endpoint.
package gohttphandler

import (
	"fmt"
	"net/http"
)

// Greet answers GET /greet?name=NAME with a plain-text greeting.
func Greet(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello, %s!\n", name)
}
