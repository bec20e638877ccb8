package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// README's table of exit codes says what --help says, code for code and
// word for word (README's references to its sections aside).
func TestExitCodesOfREADME(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(text), "\n### Exit codes\n")
	if !ok {
		t.Fatal("README has no section Exit codes")
	}
	table, _, _ = strings.Cut(table, "\n### ")
	row := regexp.MustCompile(`(?m)^\| (\d+) \| (.*) \|$`)
	see := regexp.MustCompile(` \(see "[^"]*"\)`)
	documented := make(map[int]bool)
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		code, _ := strconv.Atoi(m[1])
		documented[code] = true
		readme := see.ReplaceAllString(strings.ReplaceAll(m[2], "`", ""), "")
		if help, ok := exitMeanings[code]; !ok {
			t.Errorf("README documents exit code %d, which no command returns", code)
		} else if readme != help {
			t.Errorf("exit code %d:\nREADME: %s\n--help: %s", code, readme, help)
		}
	}
	for code := range exitMeanings {
		if !documented[code] {
			t.Errorf("exit code %d is not in README's table", code)
		}
	}
}
