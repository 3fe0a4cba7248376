package gohttphandler

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	Greet(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestGreet_NameReturnsGreeting(t *testing.T) {
	rec := get(t, "/greet?name=Ada")
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d want %d", rec.Code, http.StatusOK)
	}
	if got, want := rec.Body.String(), "Hello, Ada!\n"; got != want {
		t.Fatalf("body: got %q want %q", got, want)
	}
}

func TestGreet_MissingNameReturns400(t *testing.T) {
	rec := get(t, "/greet")
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status: got %d want %d", rec.Code, http.StatusBadRequest)
	}
}

func TestGreet_EmptyNameReturns400(t *testing.T) {
	rec := get(t, "/greet?name=")
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status: got %d want %d", rec.Code, http.StatusBadRequest)
	}
}
