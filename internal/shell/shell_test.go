package shell

import (
	"reflect"
	"strings"
	"testing"
)

func TestShellSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"--nemesis partition --time-limit 60s", []string{"--nemesis", "partition", "--time-limit", "60s"}},
		{"  a\tb\n c  ", []string{"a", "b", "c"}},
		{`--name 'two words'`, []string{"--name", "two words"}},
		{`--name "two words"`, []string{"--name", "two words"}},
		{`a'b c'd`, []string{"ab cd"}},
		{`''`, []string{""}},
		{`"" x`, []string{"", "x"}},
		{`'a\b'`, []string{`a\b`}},           // nothing escapes in single quotes
		{`"a\"b\\c\d"`, []string{`a"b\c\d`}}, // in double quotes only " and \ do
		{`a\ b`, []string{"a b"}},
		{`\'x\"`, []string{`'x"`}},
		{"a\\\nb", []string{"ab"}},
		{`"it's" 'say "hi"'`, []string{"it's", `say "hi"`}},
		{`--flag=*.go`, []string{"--flag=*.go"}}, // no globbing
		{`$HOME`, []string{"$HOME"}},             // no variables
	}
	for _, tc := range cases {
		got, err := Split(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for in, want := range map[string]string{
		`'open`:     "single quote is not closed",
		`a "open`:   "double quote is not closed",
		`"a\"`:      "double quote is not closed",
		`trailing\`: "ends with a backslash",
	} {
		if _, err := Split(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Split(%q): error %v, want one saying %q", in, err, want)
		}
	}
}

func TestShellJoinRoundTrips(t *testing.T) {
	words := []string{"jetsam", "run", "--name", "a b", "it's", "", `"q"`, `back\slash`, "--nemesis", "kill,pause", "x=1"}
	got, err := Split(Join(words))
	if err != nil || !reflect.DeepEqual(got, words) {
		t.Fatalf("split(join(%q)) = %q, %v (joined: %s)", words, got, err, Join(words))
	}
	if j := Join([]string{"jetsam", "run", "--seed", "7", "--store", "/tmp/s-1"}); j != "jetsam run --seed 7 --store /tmp/s-1" {
		t.Fatalf("plain words quoted: %s", j)
	}
}
