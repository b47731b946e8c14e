package config

import (
	"reflect"
	"strings"
)

// fieldByYAML finds a struct field by its yaml tag name.
func fieldByYAML(s any, name string) (reflect.Value, bool) {
	v := reflect.ValueOf(s)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}
