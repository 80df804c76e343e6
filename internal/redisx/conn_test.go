package redisx

import (
	"errors"
	"strings"
	"testing"
)

// An option error never repeats the URL's password, and is ErrBadOptions.
func TestClientOption_ErrorsHideThePassword(t *testing.T) {
	const pw = "Sup3r-S3cret"
	for _, url := range []string{
		"redis://:" + pw + "@127.0.0.1:notaport",
		"redis://:" + pw + "@127.0.0.1:6379/x",
		"http://:" + pw + "@127.0.0.1:6379",
		"redis://:" + pw + "@%zz",
	} {
		_, err := Dial(t.Context(), Options{URL: url})
		if err == nil {
			t.Fatalf("%s: no error", Redact(url))
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error shows the password: %v", err)
		}
		if !errors.Is(err, ErrBadOptions) {
			t.Errorf("%v: not ErrBadOptions", err)
		}
	}
}

func TestClientOption_DBMustAgree(t *testing.T) {
	two := 2
	if _, _, db, err := clientOption(Options{URL: "redis://127.0.0.1:6379", DB: &two}); err != nil || db != 2 {
		t.Errorf("no /N in the URL: db %d, err %v; want 2", db, err)
	}
	if _, _, _, err := clientOption(Options{URL: "redis://127.0.0.1:6379/0", DB: &two}); err == nil {
		t.Error("URL /0 with job db 2: want an error")
	}
}
