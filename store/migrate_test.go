package store

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
)

// Every driver has the same migrations, each version once.
func TestMigrationsHaveUniqueVersions(t *testing.T) {
	list := func(driver string) []string {
		entries, err := fs.ReadDir(migrations, "migrations/"+driver)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	sqlite, postgres := list(SQLite), list(Postgres)
	for driver, names := range map[string][]string{SQLite: sqlite, Postgres: postgres} {
		if err := uniqueVersions(names); err != nil {
			t.Errorf("%s: %v", driver, err)
		}
	}
	if !slices.Equal(sqlite, postgres) {
		t.Errorf("the drivers' migrations differ:\nsqlite   %s\npostgres %s", strings.Join(sqlite, " "), strings.Join(postgres, " "))
	}
	if err := uniqueVersions([]string{"057_crawl.sql", "057_request_id.sql"}); err == nil || !strings.Contains(err.Error(), "share version 57") {
		t.Errorf("two 057s: %v", err)
	}
}
